"""mmbnn/ops on each device against float64 on the CPU: every estimator's
forward and backward, the weight binarizers, DTE's bounds, the diagnostics'
metrics. On the CPU the float32 case runs the native library's passes; on
CUDA the PyTorch path the native passes stand in for on the CPU."""
import pytest
import torch

from devices import assert_close_to
from mmbnn import ops


def _inputs(*shape, seed=0, zeros=True):
    """Seeded float32 values on the CPU, a few of them exactly 0 (where the
    sign must give +1 on every device)."""
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    if zeros:
        x.view(-1)[::17] = 0.0
    return x


ESTIMATOR_ARGS = [
    ('ste', ()), ('approx', ()), ('ede', (2.0, 3.0)), ('ede', (1.0, 0.25)),
    ('dte', (1.0, 8.0, 2.5)), ('dte', (1.0, 4.0, None)),
]


def _apply(name, x, args):
    fn = ops.ESTIMATORS[name]
    if name == 'dte' and args[2] is not None:
        # The cap as the layers pass it: a 0-dim tensor on the input's device.
        k, t, cap = args
        return fn(x, k, t, t_cap=torch.tensor(cap, device=x.device))
    return fn(x, *args[:2])


def _forward_backward(name, x, grad, args):
    x = x.clone().requires_grad_(True)
    y = _apply(name, x, args)
    y.backward(grad)
    return y.detach(), x.grad


@pytest.mark.parametrize('name,args', ESTIMATOR_ARGS)
def test_estimator_forward_and_backward_match_cpu_float64(device, name, args):
    """float32 on the device: the sign exactly (+1 at 0), the gradient
    within 1e-5 of the float64 CPU computation (float32 rounding of the
    tanh or the piecewise surrogate)."""
    x, grad = _inputs(4, 8, 9, 9), _inputs(4, 8, 9, 9, seed=1, zeros=False)
    y, gx = _forward_backward(name, x.to(device), grad.to(device), args)
    y64, gx64 = _forward_backward(name, x.double(), grad.double(), args)
    assert y.device.type == device.type and y.dtype == torch.float32
    assert torch.equal(y.cpu().double(), y64)
    assert gx.device.type == device.type and gx.dtype == torch.float32
    assert_close_to(gx, gx64, 1e-5, f'{name} gradient')


@pytest.mark.parametrize('name,args', ESTIMATOR_ARGS)
def test_estimator_float64_on_the_device_is_float64_on_the_cpu(device, name,
                                                                args):
    x, grad = _inputs(3, 50, seed=2).double(), _inputs(3, 50, seed=3).double()
    y, gx = _forward_backward(name, x.to(device), grad.to(device), args)
    y64, gx64 = _forward_backward(name, x, grad, args)
    assert gx.dtype == torch.float64
    assert torch.equal(y.cpu(), y64)
    assert_close_to(gx, gx64, 1e-12, f'{name} float64 gradient')


@pytest.mark.parametrize('dtype,rel', [(torch.bfloat16, 1e-2),
                                       (torch.float16, 2e-3)])
@pytest.mark.parametrize('name,args', ESTIMATOR_ARGS)
def test_estimator_in_half_precision(device, name, args, dtype, rel):
    """Half-precision inputs keep their dtype; the sign is exact and the
    gradient within the dtype's rounding (``rel``: a few units of its
    8- or 11-bit mantissa) of float64 on the same half-precision values."""
    x = _inputs(2, 64, 33, seed=4).to(dtype)
    grad = _inputs(2, 64, 33, seed=5, zeros=False).to(dtype)
    y, gx = _forward_backward(name, x.to(device), grad.to(device), args)
    y64, gx64 = _forward_backward(name, x.double(), grad.double(), args)
    assert y.dtype == gx.dtype == dtype
    assert torch.equal(y.cpu().double(), y64)
    assert_close_to(gx, gx64, rel, f'{name} {dtype} gradient')


@pytest.mark.parametrize('binarizer', sorted(ops.WEIGHT_BINARIZERS))
@pytest.mark.parametrize('estimator', ['ste', 'dte'])
def test_weight_binarizers_match_cpu_float64(device, binarizer, estimator):
    """IMB (standardize, power-of-two scale, sign), XNOR and sign weights:
    forward within 1e-6 (XNOR's float32 mean; IMB's scale is a power of
    two, exact), the latent weight's gradient within 1e-5."""
    w = _inputs(16, 8, 3, 3, seed=6, zeros=False)
    grad = _inputs(16, 8, 3, 3, seed=7, zeros=False)
    est = (lambda v: ops.dte_sign(v, 1.0, 3.0)) if estimator == 'dte' \
        else ops.ste_sign

    def run(weight):
        weight = weight.clone().requires_grad_(True)
        out = ops.WEIGHT_BINARIZERS[binarizer](weight, est)
        out.backward(grad.to(weight))
        return out.detach(), weight.grad

    out, gw = run(w.to(device))
    out64, gw64 = run(w.double())
    assert out.device.type == device.type
    assert_close_to(out, out64, 1e-6, f'{binarizer} weights')
    # Every element keeps its float64 sign.
    assert torch.equal(out.cpu().double().sign(), out64.sign())
    assert_close_to(gw, gw64, 1e-5, f'{binarizer} weight gradient')


@pytest.mark.parametrize('scale', [0.05, 1.0, 30.0])
def test_dte_bounds_match_the_cpu(device, scale):
    """``dte_ratio_cap`` (a selected element: the same on every device),
    ``dte_gain_cap`` and ``dte_t_cap`` (exp/log on a grid: float32 rounding,
    1e-5) computed on the device stay there, 0-dim float32, and agree with
    the CPU's; ``dte_gain`` on a vector of ``t`` likewise."""
    x = _inputs(8, 32, 20, 20, seed=8) * scale
    on_device = x.to(device)
    ratio = ops.dte_ratio_cap(on_device)
    assert ratio.device.type == device.type and ratio.dim() == 0
    assert ratio.dtype == torch.float32
    assert ratio.item() == ops.dte_ratio_cap(x).item()
    for got, want in ((ops.dte_gain_cap(on_device), ops.dte_gain_cap(x)),
                      (ops.dte_t_cap(on_device), ops.dte_t_cap(x)),
                      (ops.dte_t_cap(on_device, max_gain=None, ratio_samples=4096),
                       ops.dte_t_cap(x, max_gain=None, ratio_samples=4096))):
        assert got.device.type == device.type and got.dim() == 0
        assert got.item() == pytest.approx(want.item(), rel=1e-5)
    t = torch.tensor([1.0, 2.0, 7.5])
    assert_close_to(ops.dte_gain(on_device, t.to(device)),
                    ops.dte_gain(x.double(), t.double()), 1e-5, 'dte_gain')


def test_metrics_count_the_same_on_every_device(device):
    """The diagnostics' counts are integers: equal on every device, and on
    the device (no host round trip)."""
    before = [_inputs(6, 5, 3, 3, seed=9), _inputs(7, 4, seed=10)]
    after = [b + 0.3 * _inputs(*b.shape, seed=11 + i, zeros=False)
             for i, b in enumerate(before)]
    flips = ops.count_flips(ops.latent_signs([b.to(device) for b in before]),
                            ops.latent_signs([a.to(device) for a in after]))
    want = ops.count_flips(ops.latent_signs(before), ops.latent_signs(after))
    assert flips.device.type == device.type and flips.dtype == torch.int64
    assert torch.equal(flips.cpu(), want) and want.sum() > 0
    changed = ops.count_changed(ops.latent_signs([b.to(device) for b in before]),
                                [a.to(device) for a in after])
    assert torch.equal(changed.cpu(), want)
    x = _inputs(1000, seed=12) * 2
    # A tanh at the threshold may round to either side on another device
    # (at most 2 of the 1000 elements); the float32 mean of the 0/1 flags
    # rounds by the reduction's order (1e-6).
    for fn, args, tol in ((ops.updating_ratio, (3.0, 0.1), 2e-3),
                          (ops.saturation, (), 1e-6)):
        got = fn(x.to(device), *args)
        assert got.device.type == device.type
        assert got.item() == pytest.approx(fn(x, *args).item(), abs=tol)
    # histc may put an element on a bin edge into either bin on another
    # device: at most one per bin moves.
    edges, counts = ops.abs_histogram(x.to(device), 10)
    want_counts = ops.abs_histogram(x, 10)[1]
    assert sum(counts) == sum(want_counts) == 1000
    assert max(abs(a - b) for a, b in zip(counts, want_counts)) <= 1
    assert edges == pytest.approx(ops.abs_histogram(x, 10)[0])
