"""Sign with a choice of backward estimator (docs/methods.md 1.2).

Every estimator's forward is ``sign`` with ``sign(0) = +1`` (a binary value
must be packable into one bit); they differ only in the gradient they pass:

- ``ste_sign``: clipped straight-through, ``1`` where ``|x| <= 1``;
- ``approx_sign``: Bi-Real Net's piecewise polynomial, ``2 - 2|x|`` on
  ``(-1, 1)``;
- ``ede_sign`` / ``dte_sign``: the derivative of ``k * tanh(t * x)``,
  ``k * t * (1 - tanh(t * x) ** 2)`` (IR-Net's EDE; DIR-Net's DTE uses the
  same function with a two-stage schedule for ``k, t`` and a per-layer cap
  on ``t``, see ``schedules``).

Plain PyTorch, device- and dtype-agnostic: the output has the input's dtype.
On the CPU in float32 the sign and the tanh backward run as one native pass
each (``native``; ``MMBNN_ISA=reference`` keeps PyTorch's ops);
the backward is then computed as ``k t 4 v / (1 + v)^2``, ``v = exp(-2|t
x|)``, equal to the formula above within float32 rounding.
"""
import torch

from .native import native_sign, native_tanh_sign_grad

__all__ = ['binary_sign', 'ste_sign', 'approx_sign', 'ede_sign', 'dte_sign',
           'ESTIMATORS']


def binary_sign(x: torch.Tensor) -> torch.Tensor:
    """``+1`` where ``x >= 0`` else ``-1``, in ``x``'s dtype (no gradient)."""
    fused = native_sign(x)
    if fused is not None:
        return fused
    one = torch.ones((), dtype=x.dtype, device=x.device)
    return torch.where(x >= 0, one, -one)


class _SurrogateSign(torch.autograd.Function):
    """Sign forward; backward multiplies by ``surrogate(x)``, a derivative."""

    @staticmethod
    def surrogate(x):
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, x):
        ctx.save_for_backward(x)
        return binary_sign(x)

    @classmethod
    def backward(cls, ctx, grad):
        x, = ctx.saved_tensors
        return grad * cls.surrogate(x).to(grad.dtype)


class _STESign(_SurrogateSign):

    @staticmethod
    def surrogate(x):
        return x.abs() <= 1


class _ApproxSign(_SurrogateSign):

    @staticmethod
    def surrogate(x):
        # 2 + 2x on [-1, 0) and 2 - 2x on [0, 1) are both 2 - 2|x|.
        return (2 - 2 * x.abs()).clamp_min(0)


class _TanhSign(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, k, t):
        ctx.save_for_backward(x, k, t)
        return binary_sign(x)

    @staticmethod
    def backward(ctx, grad):
        x, k, t = ctx.saved_tensors
        fused = native_tanh_sign_grad(x, grad, k, t)
        if fused is not None:
            return fused, None, None
        # At least float32: tanh saturates early in half precision.
        dtype = torch.promote_types(x.dtype, torch.float32)
        t = t.to(dtype)
        # k t (1 - tanh(t x)^2), in place on one temporary (a hot path).
        d = torch.tanh(x.to(dtype) * t)
        d.mul_(d).sub_(1).mul_(-k.to(dtype) * t).mul_(grad)
        return d.to(grad.dtype), None, None


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to(device=like.device)
    # A Python float keeps float64 precision for float64 inputs; lower
    # precisions get float32, the backward's working precision. Filled on
    # the device: torch.tensor would copy it from the host (a sync on CUDA).
    dtype = torch.promote_types(like.dtype, torch.float32)
    return torch.full((), float(value), device=like.device, dtype=dtype)


def ste_sign(x: torch.Tensor) -> torch.Tensor:
    """Sign; backward: clipped straight-through estimator."""
    return _STESign.apply(x)


def approx_sign(x: torch.Tensor) -> torch.Tensor:
    """Sign; backward: Bi-Real Net's ApproxSign, ``max(2 - 2|x|, 0)``."""
    return _ApproxSign.apply(x)


def ede_sign(x: torch.Tensor, k=1.0, t=1.0) -> torch.Tensor:
    """Sign; backward: IR-Net's EDE, ``k * t * (1 - tanh(t x)^2)``.

    ``k`` and ``t`` are floats or (broadcastable) tensors, e.g. per channel.
    """
    return _TanhSign.apply(x, _as_tensor(k, x), _as_tensor(t, x))


def dte_sign(x: torch.Tensor, k=1.0, t=1.0, t_cap=None) -> torch.Tensor:
    """Sign; backward: DIR-Net's DTE, ``k * t' * (1 - tanh(t' x)^2)`` with
    ``t' = min(t, t_cap)``.

    ``k, t`` come from ``dte_schedule``; ``t_cap`` from ``dte_t_cap`` (the
    distribution-sensitive bound, applied in stage 2 only by the caller).
    """
    t = _as_tensor(t, x)
    if t_cap is not None:
        t = torch.minimum(t, _as_tensor(t_cap, x))
    return _TanhSign.apply(x, _as_tensor(k, x), t)


ESTIMATORS = dict(ste=ste_sign, approx=approx_sign, ede=ede_sign, dte=dte_sign)
