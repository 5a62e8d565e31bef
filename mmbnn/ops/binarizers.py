"""Weight binarizers (docs/methods.md 1.1 and 3.3).

Each takes the real latent weight ``w`` of shape ``(C_out, ...)`` and a sign
estimator (a callable from ``estimators``), and returns the binarized weight
in ``w``'s shape; the gradient reaches ``w`` through the estimator and, for
IMB, through the standardization.
"""
from typing import Callable

import torch

from .estimators import ste_sign

__all__ = ['imb', 'imb_from_standardized', 'imb_standardize',
           'power_of_two_scale', 'xnor', 'sign', 'WEIGHT_BINARIZERS']

Estimator = Callable[[torch.Tensor], torch.Tensor]


def imb_standardize(w: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Balance and standardize each output channel: ``(w - mean) / std``.

    Unbiased std over the fan-in; mean and std are not detached. ``eps``
    guards a constant filter (std 0).
    """
    flat = w.flatten(1)
    centered = flat - flat.mean(1, keepdim=True)
    std = centered.std(1, keepdim=True, unbiased=True)
    return (centered / std.clamp_min(eps)).view_as(w)


def power_of_two_scale(w_hat: torch.Tensor) -> torch.Tensor:
    """Per output channel ``2 ** round(log2(mean|w_hat|))``, detached, shaped
    to broadcast against ``w_hat``. Deployment applies it as a bit shift."""
    mean_abs = w_hat.detach().flatten(1).abs().mean(1).float().clamp_min(1e-30)
    scale = torch.exp2(torch.round(torch.log2(mean_abs)))
    return scale.to(w_hat.dtype).view(-1, *([1] * (w_hat.dim() - 1)))


def imb(w: torch.Tensor, estimator: Estimator = ste_sign) -> torch.Tensor:
    """DIR-Net's Information Maximized Binarization: ``s * sign(w_hat)``.

    ``w_hat`` is the balanced, standardized filter (zero mean, so about half
    its signs are +1: maximal Bernoulli entropy) and ``s`` its power-of-two
    scale. The estimator is applied to ``w_hat``.
    """
    return imb_from_standardized(imb_standardize(w), estimator)


def imb_from_standardized(w_hat: torch.Tensor,
                          estimator: Estimator = ste_sign) -> torch.Tensor:
    """IMB of an already standardized filter: ``s * sign(w_hat)`` (what
    ``imb`` returns; a layer that also needs ``w_hat`` computes it once)."""
    return power_of_two_scale(w_hat) * estimator(w_hat)


def xnor(w: torch.Tensor, estimator: Estimator = ste_sign) -> torch.Tensor:
    """XNOR-Net / ReActNet: ``alpha_c * sign(w)``, ``alpha_c = mean|w_c|`` detached."""
    alpha = w.detach().flatten(1).abs().mean(1)
    return alpha.view(-1, *([1] * (w.dim() - 1))) * estimator(w)


def sign(w: torch.Tensor, estimator: Estimator = ste_sign) -> torch.Tensor:
    """Plain ``sign(w)`` with no scale."""
    return estimator(w)


WEIGHT_BINARIZERS = dict(imb=imb, xnor=xnor, sign=sign)
