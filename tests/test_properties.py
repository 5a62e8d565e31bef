"""Properties of the binarization maths over random shapes, dtypes and
distributions (hypothesis), each checked against a reference computed
independently in numpy float64 or by central finite differences."""
import math
import os

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mmbnn import ops
from test_reference_gradients import surrogate_grad  # the closed forms

# 'mmbnn' (make test): the same 40 examples per property on every run.
# 'thorough': HYPOTHESIS_PROFILE=thorough, 1000 fresh random examples each.
settings.register_profile('mmbnn', deadline=None, max_examples=40,
                          derandomize=True, print_blob=True)
settings.register_profile('thorough', deadline=None, max_examples=1000,
                          print_blob=True)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'mmbnn'))

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


def numpy_imb(w):
    """IMB by its definition in float64: per filter ``w_hat = (w - mean) /
    std`` (unbiased), ``s = 2 ** round(log2(mean|w_hat|))``."""
    flat = w.reshape(w.shape[0], -1)
    c = flat - flat.mean(1, keepdims=True)
    std = c.std(1, ddof=1, keepdims=True)
    w_hat = c / np.maximum(std, 1e-8)
    log2_mean = np.log2(np.maximum(np.abs(w_hat).mean(1, keepdims=True), 1e-30))
    return w_hat, log2_mean


@given(w=weights, dtype=st.sampled_from([torch.float32, torch.float64]))
def test_imb_is_a_power_of_two_times_the_sign_of_the_standardized_filter(w, dtype):
    out = ops.imb(w.to(dtype))
    assert out.dtype == dtype and torch.isfinite(out).all()
    w_hat, log2_mean = numpy_imb(w.numpy())
    got = out.double().numpy().reshape(w_hat.shape)
    # One magnitude per filter, a power of two: the nearest to mean|w_hat|
    # in log2 (a rounding tie decided either way in float32 is accepted).
    mags = np.abs(got)
    assert (mags == mags[:, :1]).all()
    exponent = np.log2(mags[:, 0])
    assert (exponent == np.round(exponent)).all()
    near_tie = np.abs(np.abs(log2_mean[:, 0] - np.floor(log2_mean[:, 0])) - 0.5) < 1e-4
    far = ~near_tie
    np.testing.assert_array_equal(exponent[far], np.round(log2_mean[far, 0]))
    # Signs: those of w_hat, sign(0) = +1; elements within float32 rounding
    # of zero may go either way.
    signs = np.sign(got)
    want = np.where(w_hat >= 0, 1.0, -1.0)
    sure = np.abs(w_hat) > (1e-4 if dtype == torch.float32 else 1e-9)
    np.testing.assert_array_equal(signs[sure], want[sure])


@given(w=weights)
def test_standardized_filters_have_zero_mean_and_unit_std(w):
    constant = bool((w == w.flatten(1)[:, :1].view(-1, *[1] * (w.dim() - 1))).all())
    w_hat = ops.imb_standardize(w).flatten(1)
    assert torch.isfinite(w_hat).all()
    if constant:
        assert torch.equal(w_hat, torch.zeros_like(w_hat))
        return
    spread = (w.flatten(1).std(1, unbiased=True) /
              w.flatten(1).abs().amax(1).clamp_min(1e-300))
    rows = spread > 1e-6  # filters that are not constant up to rounding
    torch.testing.assert_close(w_hat.mean(1)[rows],
                               torch.zeros(int(rows.sum()), dtype=w.dtype),
                               atol=1e-9, rtol=0)
    torch.testing.assert_close(w_hat.std(1, unbiased=True)[rows],
                               torch.ones(int(rows.sum()), dtype=w.dtype))


@given(w=weights)
def test_imb_gradient_is_finite_and_shift_invariant(w):
    """A common shift of a filter does not change ``w_hat``, so the gradient
    sums to zero per filter; a constant filter gives a finite gradient."""
    leaf = w.clone().requires_grad_(True)
    ops.imb(leaf).sum().backward()
    assert torch.isfinite(leaf.grad).all()
    rows = leaf.grad.flatten(1)
    scale = rows.abs().amax(1).clamp_min(1.0)
    assert (rows.sum(1).abs() <= 1e-9 * scale * rows.shape[1]).all()


# ------------------------------------------------------------- estimators

def surrogate(name, x, k=1.0, t=1.0):
    """Each estimator's surrogate function (its backward is the derivative),
    in numpy float64."""
    if name == 'ste':
        return np.clip(x, -1, 1)
    if name == 'approx':
        inside = np.where(x < 0, 2 * x + x ** 2, 2 * x - x ** 2)
        return np.where(np.abs(x) < 1, inside, np.sign(x))
    return k * np.tanh(t * x)


def call(name, x, k, t, t_cap):
    if name == 'ede':
        return ops.ede_sign(x, k, t)
    if name == 'dte':
        return ops.dte_sign(x, k, t, t_cap=t_cap)
    return ops.ESTIMATORS[name](x)


estimator_cases = st.tuples(
    st.sampled_from(['ste', 'approx', 'ede', 'dte']),
    st.lists(st.floats(-4, 4, allow_nan=False), min_size=1, max_size=40),
    st.floats(0.1, 10), st.floats(0.1, 10), st.none() | st.floats(0.2, 20))


@given(case=estimator_cases)
def test_estimator_backward_is_the_derivative_of_its_surrogate(case):
    name, values, k, t, t_cap = case
    x64 = np.array(values)
    t_eff = min(t, t_cap) if (name == 'dte' and t_cap is not None) else t
    # Central differences need the surrogate smooth around x: STE has kinks
    # at +-1.
    h = 1e-6
    if name == 'ste':
        assume(np.all(np.abs(np.abs(x64) - 1) > 10 * h))
    x = torch.tensor(x64, requires_grad=True)
    y = call(name, x, k, t, t_cap)
    np.testing.assert_array_equal(y.detach().numpy(),
                                  np.where(x64 >= 0, 1.0, -1.0))
    y.sum().backward()
    got = x.grad.numpy()
    np.testing.assert_allclose(got, surrogate_grad(name, x64, k, t_eff),
                               rtol=1e-9, atol=1e-12)
    fd = (surrogate(name, x64 + h, k, t_eff) -
          surrogate(name, x64 - h, k, t_eff)) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-5 * max(1, k * t_eff))


@given(case=estimator_cases,
       dtype=st.sampled_from([torch.float32, torch.bfloat16]))
def test_estimator_backward_in_low_precision_rounds_the_float64_value(case, dtype):
    """float32 and bfloat16 inputs get the derivative computed (at least) in
    float32 and rounded once: within one rounding of the dtype of the
    float64 value at the same (rounded) inputs."""
    name, values, k, t, t_cap = case
    x = torch.tensor(values, dtype=dtype, requires_grad=True)
    x64 = x.detach().double().numpy()
    t_eff = min(t, t_cap) if (name == 'dte' and t_cap is not None) else t
    # k and t reach the kernel as float32.
    k32, t32 = float(np.float32(k)), float(np.float32(t_eff))
    y = call(name, x, k, t, t_cap)
    assert y.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == dtype
    want = surrogate_grad(name, x64, k32, t32)
    # Rounding to the dtype: 2^-8 relative for bfloat16 (2^-7 leaves room
    # for a tie), 2^-24 for float32; and ``1 - tanh^2`` near saturation
    # cancels in float32 to an absolute error of a few float32 steps of 1,
    # scaled by k t.
    rtol = 2.0 ** -7 if dtype == torch.bfloat16 else 2.0 ** -20
    atol = 8 * 2.0 ** -24 * max(1.0, k32 * t32)
    np.testing.assert_allclose(x.grad.double().numpy(), want, rtol=rtol,
                               atol=atol)


# --------------------------------------------------------------- schedules

schedule_params = st.tuples(st.floats(0.01, 0.9), st.floats(1.1, 100),
                            st.none() | st.floats(0.05, 0.95))


@given(params=schedule_params, ps=st.lists(st.floats(0, 1), min_size=2,
                                             max_size=30))
def test_schedules_are_monotone_in_progress(params, ps):
    t_min, t_max, boundary = params
    ps = sorted(ps)
    dte = [ops.dte_schedule(p, t_min, t_max, boundary) for p in ps]
    ede = [ops.ede_schedule(p, t_min, t_max) for p in ps]
    for (k0, t0, s0), (k1, t1, s1) in zip(dte, dte[1:]):
        assert t1 >= t0 * (1 - 1e-12) and k1 <= k0 * (1 + 1e-12) and s1 >= s0
    for (k0, t0), (k1, t1) in zip(ede, ede[1:]):
        assert t1 >= t0 * (1 - 1e-12) and k1 <= k0 * (1 + 1e-12)
    assert dte[0][1] >= t_min * (1 - 1e-12) and dte[-1][1] <= t_max * (1 + 1e-12)


@given(params=schedule_params)
def test_dte_schedule_is_continuous_at_the_stage_boundary(params):
    t_min, t_max, boundary = params
    b = ops.dte_boundary(t_min, t_max) if boundary is None else boundary
    below = ops.dte_schedule(b * (1 - 1e-9), t_min, t_max, boundary)
    at = ops.dte_schedule(b, t_min, t_max, boundary)
    assert below[2] == 1 and at[2] == 2
    assert at[:2] == (1.0, 1.0)
    assert below[0] == pytest.approx(1.0, rel=1e-6)
    assert below[1] == pytest.approx(1.0, rel=1e-6)
    # Both ends: t_min at p = 0, t_max at p = 1.
    assert ops.dte_schedule(0.0, t_min, t_max, boundary)[1] == pytest.approx(t_min)
    assert ops.dte_schedule(1.0, t_min, t_max, boundary)[1] == pytest.approx(t_max)


@given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(1, 5000),
       epsilon=st.floats(0.01, 0.99), delta=st.floats(0.01, 0.99),
       distribution=st.sampled_from(['normal', 'heavy', 'uniform', 'offset']))
def test_capped_t_keeps_at_least_epsilon_of_elements_updating(
        seed, n, epsilon, delta, distribution):
    x = draw_weight(seed, (n, ), distribution, 1.0).float()
    assume(bool((x != 0).all()))
    cap = ops.dte_t_cap(x, epsilon, delta)
    # At the cap itself the boundary element's factor is delta up to
    # rounding; a hair below it, it is strictly inside.
    ratio = ops.updating_ratio(x, cap * (1 - 1e-5), delta).item()
    assert ratio >= epsilon
    # The cap is the largest such t: 1% above it, the element at the
    # quantile (and any tied with it) stops updating.
    assert ops.updating_ratio(x, cap * 1.01, delta).item() < ratio
