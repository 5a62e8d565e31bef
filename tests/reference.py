"""References written independently of the code under test: the estimators'
closed forms and IMB in numpy float64, and the weight distributions the
property tests draw from (hypothesis)."""
import math

import numpy as np
import torch
from hypothesis import strategies as st


def as_numpy(x):
    """A tensor as a float64 numpy array."""
    return x.detach().double().numpy()


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
