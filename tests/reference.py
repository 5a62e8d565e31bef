"""References written independently of the code under test: the estimators'
closed forms and IMB in numpy float64, and the weight distributions the
property tests draw from (hypothesis)."""
import itertools
import math

import numpy as np
import torch
from hypothesis import strategies as st


def as_numpy(x):
    """A tensor as a float64 numpy array."""
    return x.detach().double().numpy()


def signs(x):
    """``+1`` where ``x >= 0`` else ``-1``, in ``x``'s dtype (sign(0) = +1,
    the binary layers' convention)."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def surrogate_grad(name, x, k=1.0, t=1.0):
    """d/dx of each estimator's surrogate, in numpy float64 (docs/methods.md
    1.2)."""
    x = np.asarray(x, dtype=np.float64)
    if name == 'ste':
        return (np.abs(x) <= 1).astype(np.float64)
    if name == 'approx':
        return np.maximum(2 - 2 * np.abs(x), 0)
    return k * t * (1 - np.tanh(t * x) ** 2)


def numpy_imb(w):
    """IMB by its definition in float64: per filter ``w_hat = (w - mean) /
    std`` (unbiased), ``s = 2 ** round(log2(mean|w_hat|))``."""
    flat = w.reshape(w.shape[0], -1)
    c = flat - flat.mean(1, keepdims=True)
    std = c.std(1, ddof=1, keepdims=True)
    w_hat = c / np.maximum(std, 1e-8)
    log2_mean = np.log2(np.maximum(np.abs(w_hat).mean(1, keepdims=True), 1e-30))
    return w_hat, log2_mean


DISTRIBUTIONS = ('normal', 'heavy', 'uniform', 'constant', 'offset')


def draw_weight(seed, shape, distribution, scale):
    """A weight tensor (float64) of one of several distributions: normal,
    heavy-tailed (symmetric Lomax, tail index 1.5: infinite variance),
    uniform, a constant filter (dyadic, so its mean is exact) and a normal
    with a large common offset (mean far from zero)."""
    g = torch.Generator().manual_seed(seed)
    if distribution == 'normal':
        w = torch.randn(shape, generator=g, dtype=torch.float64)
    elif distribution == 'heavy':
        u = torch.rand(shape, generator=g, dtype=torch.float64).clamp_min(1e-12)
        sgn = torch.randint(0, 2, shape, generator=g).double() * 2 - 1
        w = sgn * (u ** (-1 / 1.5) - 1)
    elif distribution == 'uniform':
        w = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
    elif distribution == 'constant':
        # Dyadic at every scale, so the filter stays constant in float32.
        return torch.full(shape, 0.375 * 2.0 ** round(math.log2(scale)),
                          dtype=torch.float64)
    else:
        w = torch.randn(shape, generator=g, dtype=torch.float64) * 0.1 + 4.0
    return w * scale


weights = st.builds(
    draw_weight, seed=st.integers(0, 2 ** 31 - 1),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 4), st.sampled_from([1, 3]),
                    st.sampled_from([1, 3])).filter(
                        lambda s: s[1] * s[2] * s[3] >= 2),
    distribution=st.sampled_from(DISTRIBUTIONS),
    scale=st.sampled_from([1e-3, 0.05, 1.0, 30.0]))


def numpy_gain(x, t, k=1.0):
    """The tanh estimator's gain on ``x``, ``mean((k t (1 - tanh(t x)^2))^2)``,
    in float64 for each ``t`` (docs/methods.md 1.2)."""
    x = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    return np.array([np.mean((k * s * (1 - np.tanh(s * x) ** 2)) ** 2)
                     for s in t])


def first_crossing(x, max_gain, limit=1000.0, points=200001):
    """Brute force: the smallest ``t`` on a fine geometric grid of
    ``[1, limit]`` at which the gain exceeds ``max_gain`` (``limit`` if it
    never does)."""
    t = np.geomspace(1.0, limit, points)
    x = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    # Chunks: points x elements at once would not fit.
    for lo in range(0, points, 2000):
        gain = np.mean((t[lo:lo + 2000, None] * (1 - np.tanh(
            t[lo:lo + 2000, None] * x) ** 2)) ** 2, axis=1)
        over = np.nonzero(gain > max_gain)[0]
        if over.size:
            return t[lo + over[0]]
    return limit


def numpy_gain_cap(x, max_gain=1.0, limit=1000.0, points=25,
                   max_samples=2048):
    """DTE's gain bound as docs/methods.md 1.2 states it, in float64: the
    gain on a geometric grid of ``points`` values of ``t`` over ``[1,
    limit]`` from an evenly strided subsample of at most ``max_samples``
    elements, the first grid point over ``max_gain`` found and ``t``
    interpolated in log-log between it and the point before."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size > max_samples:
        x = x[::x.size // max_samples]
    grid = np.geomspace(1.0, limit, points)
    gain = numpy_gain(x, grid)
    over = np.nonzero(gain > max_gain)[0]
    if not over.size:
        return limit
    j = over[0]
    if j == 0:
        return 1.0
    lg = np.log(np.maximum(gain, 1e-30))
    frac = np.clip((math.log(max_gain) - lg[j - 1]) / max(lg[j] - lg[j - 1],
                                                          1e-12), 0, 1)
    return float(np.exp(np.log(grid[j - 1]) + frac * (np.log(grid[j]) -
                                                      np.log(grid[j - 1]))))


def numpy_ratio_cap(x, epsilon, delta, limit=1000.0):
    """DTE's updating-ratio bound by its definition: artanh(sqrt(1 - delta))
    over the epsilon-quantile of |x| rounded up (at most ``limit``)."""
    a = np.sort(np.abs(np.asarray(x, dtype=np.float64)).ravel())
    q = max(a[math.ceil(epsilon * (a.size - 1))], 1e-12)
    return min(math.atanh(math.sqrt(1 - delta)) / q, limit)


def numpy_t_cap(x, epsilon=0.1, delta=0.1, max_gain=1.0):
    """The smaller of the two bounds (the ratio's alone if ``max_gain`` is
    None)."""
    ratio = numpy_ratio_cap(x, epsilon, delta)
    return ratio if max_gain is None else min(numpy_gain_cap(x, max_gain),
                                              ratio)


# The packed conv's shape grid (every kernel path is tested on it): odd and
# word-straddling channel counts, kernel, stride, padding, dilation, groups;
# output channels not a multiple of the 8-channel block.
XNOR_CONV_GRID = [
    (cin, cout, k, s, p, d, g)
    for cin, cout, k, s, p, d, g in itertools.product(
        (1, 3, 64, 65, 130), (5, 16), (1, 3), (1, 2), (0, 1, 2), (1, 2), (1, 5))
    if cin % g == 0 and cout % g == 0 and not (k == 1 and d == 2)]
