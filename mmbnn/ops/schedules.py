"""Schedules of ``(k, t)`` over training progress ``p in [0, 1]`` (docs/methods.md 1.2).

Pure functions of ``p`` so that a resumed run recomputes exactly the values
it would have had.
"""
import math
from typing import Tuple

import torch

__all__ = ['ede_schedule', 'dte_boundary', 'dte_schedule', 'dte_t_cap']


def _check(p: float, t_min: float, t_max: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f'progress p must be in [0, 1], got {p}')
    if not 0.0 < t_min < t_max:
        raise ValueError(f'need 0 < t_min < t_max, got {t_min}, {t_max}')


def ede_schedule(p: float, t_min: float = 0.1,
                 t_max: float = 10.0) -> Tuple[float, float]:
    """IR-Net's EDE: ``t = t_min * (t_max / t_min) ** p``, ``k = max(1/t, 1)``."""
    _check(p, t_min, t_max)
    t = t_min * (t_max / t_min) ** p
    return max(1.0 / t, 1.0), t


def dte_boundary(t_min: float = 0.1, t_max: float = 10.0) -> float:
    """Progress at which EDE's ``t`` crosses 1: ``log(1/t_min) / log(t_max/t_min)``."""
    if not 0.0 < t_min < 1.0 < t_max:
        raise ValueError(f'DTE needs t_min < 1 < t_max, got {t_min}, {t_max}')
    return math.log(1.0 / t_min) / math.log(t_max / t_min)


def dte_schedule(p: float, t_min: float = 0.1, t_max: float = 10.0,
                 boundary: float = None) -> Tuple[float, float, int]:
    """DIR-Net's two-stage estimator schedule; returns ``(k, t, stage)``.

    Stage 1 (``p < boundary``, updating capability): ``k = 1/t`` (gradient
    peak 1, wide bell) while ``t`` grows geometrically from ``t_min`` to 1.
    Stage 2 (accurate gradient): ``k = 1`` while ``t`` grows from 1 to
    ``t_max``. The default boundary is where EDE's ``t`` crosses 1
    (``dte_boundary``); with it both stages follow EDE's ``t`` curve.
    """
    _check(p, t_min, t_max)
    if boundary is None:
        boundary = dte_boundary(t_min, t_max)
    if not 0.0 < boundary < 1.0:
        raise ValueError(f'boundary must be in (0, 1), got {boundary}')
    if p < boundary:
        t = t_min ** (1.0 - p / boundary)
        return 1.0 / t, t, 1
    return 1.0, t_max ** ((p - boundary) / (1.0 - boundary)), 2


def dte_t_cap(x: torch.Tensor, epsilon: float = 0.1, delta: float = 0.1,
              max_samples: int = 1 << 16) -> torch.Tensor:
    """Largest ``t`` that keeps the updating ratio of ``x`` at least ``epsilon``.

    [choice, docs/methods.md 1.2] An element keeps updating while its gradient
    factor ``1 - tanh(t|x|)^2 >= delta``, i.e. ``t|x| <= artanh(sqrt(1 -
    delta))``. With ``q`` the ``epsilon``-quantile of ``|x|``, ``t_cap =
    artanh(sqrt(1 - delta)) / q`` keeps that for a fraction ``epsilon``.
    ``q`` is an element of ``|x|`` (the quantile rounded up, not
    interpolated), so at least ``epsilon`` of the elements lie at or below it.
    """
    if not (0.0 < epsilon < 1.0 and 0.0 < delta < 1.0):
        raise ValueError(f'epsilon and delta must be in (0, 1), got {epsilon}, '
                         f'{delta}')
    flat = x.detach().flatten()
    if flat.numel() > max_samples:
        # An evenly strided subsample: a quantile of a large activation
        # tensor on every forward would cost more than the conv.
        flat = flat[::flat.numel() // max_samples]
    q = torch.quantile(flat.abs().float(), epsilon,
                       interpolation='higher').clamp_min(1e-12)
    return math.atanh(math.sqrt(1.0 - delta)) / q
