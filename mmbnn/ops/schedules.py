"""Schedules of ``(k, t)`` over training progress ``p in [0, 1]`` (docs/methods.md 1.2).

Pure functions of ``p`` so that a resumed run recomputes exactly the values
it would have had.
"""
import math
from typing import Optional, Tuple

import torch

__all__ = ['ede_schedule', 'dte_boundary', 'dte_schedule', 'dte_t_cap',
           'dte_ratio_cap', 'dte_gain', 'dte_gain_cap', 'T_CAP_LIMIT']


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


# The largest t the bounds report: "no bound" (above any schedule's t_max).
T_CAP_LIMIT = 1000.0
# t on a geometric grid over [1, T_CAP_LIMIT], ratio 1.33: interpolated in
# log-log, within 0.4% of a brute-force search on 20001 points.
_GAIN_GRID = 25


def _sample(x: torch.Tensor, max_samples: int) -> torch.Tensor:
    """``x`` flattened, detached, float32; an evenly strided subsample of
    it when larger than ``max_samples`` (a statistic of a large activation
    tensor on every forward must cost less than the conv)."""
    flat = x.detach().flatten()
    if flat.numel() > max_samples:
        flat = flat[::flat.numel() // max_samples]
    return flat.float()


def dte_t_cap(x: torch.Tensor, epsilon: float = 0.1, delta: float = 0.1,
              max_gain: Optional[float] = 1.0,
              ratio_samples: int = 1 << 16) -> torch.Tensor:
    """DTE's distribution-sensitive bound on stage 2's ``t`` for the
    elements ``x`` (docs/methods.md 1.2): the smaller of ``dte_gain_cap``
    (the estimator must not amplify the gradient passing through it; none
    if ``max_gain`` is None) and ``dte_ratio_cap`` (at least ``epsilon`` of
    the elements keep updating). A 0-dim float32 tensor on ``x``'s device,
    at most ``T_CAP_LIMIT``. ``ratio_samples``: the ratio bound's subsample
    size (``dte_ratio_cap``'s ``max_samples``)."""
    ratio = dte_ratio_cap(x, epsilon, delta, ratio_samples)
    if max_gain is None:
        return ratio
    return torch.minimum(dte_gain_cap(x, max_gain), ratio)


def dte_ratio_cap(x: torch.Tensor, epsilon: float = 0.1, delta: float = 0.1,
                  max_samples: int = 1 << 16) -> torch.Tensor:
    """Largest ``t`` that keeps the updating ratio of ``x`` at least
    ``epsilon`` (at most ``T_CAP_LIMIT``).

    [choice, docs/methods.md 1.2] An element keeps updating while its
    gradient factor ``1 - tanh(t|x|)^2 >= delta``, i.e. ``t|x| <=
    artanh(sqrt(1 - delta))``. With ``q`` the ``epsilon``-quantile of
    ``|x|``, ``t_cap = artanh(sqrt(1 - delta)) / q`` keeps that for a
    fraction ``epsilon``. ``q`` is an element of ``|x|`` (the quantile
    rounded up, not interpolated), so at least ``epsilon`` of the elements
    lie at or below it.
    """
    if not (0.0 < epsilon < 1.0 and 0.0 < delta < 1.0):
        raise ValueError(f'epsilon and delta must be in (0, 1), got {epsilon}, '
                         f'{delta}')
    flat = _sample(x, max_samples).abs()
    # The element at sorted position ceil(epsilon * (n - 1)) (0-based), as
    # torch.quantile(interpolation='higher') finds it, by selection rather
    # than a sort (half the time).
    k = math.ceil(epsilon * (flat.numel() - 1)) + 1
    q = torch.kthvalue(flat, k).values.clamp_min(1e-12)
    return (math.atanh(math.sqrt(1.0 - delta)) / q).clamp_max(T_CAP_LIMIT)


def dte_gain(x: torch.Tensor, t, k=1.0) -> torch.Tensor:
    """The gain of the tanh estimator on ``x``: the mean square of its
    gradient factor, ``mean((k t (1 - tanh(t x)^2))^2)``, for each value of
    ``t`` (a float or a 1-D tensor). 1 means the estimator passes gradient
    energy through unchanged on average; STE's is the share of ``|x| <= 1``.
    """
    # A tensor t (the gain cap's grid) stays on its device; a Python value
    # is copied there (not in a training step's path).
    t = (t.to(x.device, torch.float32) if isinstance(t, torch.Tensor)
         else torch.tensor(t, dtype=torch.float32, device=x.device))
    if isinstance(k, torch.Tensor):
        k = k.to(x.device, torch.float32)
    u = t.reshape(-1, 1) * x.detach().float().abs().flatten()
    v = torch.exp(-2 * u)
    sech2 = 4 * v / (1 + v) ** 2  # 1 - tanh(u)^2, without cancellation
    gain = (k * t.reshape(-1, 1) * sech2).pow(2).mean(1)
    return gain.reshape(t.shape)


def dte_gain_cap(x: torch.Tensor, max_gain: float = 1.0,
                 max_samples: int = 1 << 11) -> torch.Tensor:
    """Largest ``t >= 1`` at which the stage-2 estimator (``k = 1``) does not
    amplify the gradient through ``x``: ``dte_gain(x, t) <= max_gain`` for
    every ``t`` up to it (``T_CAP_LIMIT`` if the gain never exceeds it).

    [choice, docs/methods.md 1.2] In stage 2 the factor's peak ``k t`` grows
    to ``t_max``; where the elements are dense near 0 (a short run, still
    far from binary) the gain grows about linearly in ``t`` (``~0.53 t /
    sigma`` for ``N(0, sigma)``), and a chain of binary layers multiplies it:
    the gradient explodes. Where training has moved the elements away from
    0 the gain stays small and ``t`` may grow. Found on a geometric grid of
    ``t`` over ``[1, T_CAP_LIMIT]`` from a strided subsample of ``x``,
    interpolated in log-log between the grid points around the crossing; no
    host synchronization.
    """
    if max_gain <= 0:
        raise ValueError(f'max_gain must be > 0, got {max_gain}')
    flat = _sample(x, max_samples)
    grid = torch.logspace(0, math.log10(T_CAP_LIMIT), _GAIN_GRID,
                          device=flat.device)
    gain = dte_gain(flat, grid)
    over = gain > max_gain
    # The first grid point over the bound (the grid's length if none).
    first = torch.where(over.any(), over.float().argmax(),
                        torch.full((), _GAIN_GRID, device=flat.device,
                                   dtype=torch.long))
    # Gathered, not indexed: a 0-dim tensor index is read on the host.
    bounds = torch.stack([(first - 1).clamp(0, _GAIN_GRID - 1),
                          first.clamp(max=_GAIN_GRID - 1)])
    log_t = torch.log(grid).gather(0, bounds)
    log_g = torch.log(gain.clamp_min(1e-30)).gather(0, bounds)
    step = (log_g[1] - log_g[0]).clamp_min(1e-12)
    frac = ((math.log(max_gain) - log_g[0]) / step).clamp(0, 1)
    cap = torch.exp(log_t[0] + frac * (log_t[1] - log_t[0]))
    cap = torch.where(first == 0, grid[0], cap)
    return torch.where(first == _GAIN_GRID, grid[-1], cap)
