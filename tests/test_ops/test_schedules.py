"""mmbnn/ops/schedules.py: the EDE and DTE schedules and DTE's bound on t,
by hand and as properties over progress and distributions."""
import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from mmbnn import ops
from reference import draw_weight, first_crossing, numpy_gain


def test_ede_schedule_values():
    assert ops.ede_schedule(0.0) == pytest.approx((10.0, 0.1))
    assert ops.ede_schedule(0.5) == pytest.approx((1.0, 1.0))
    assert ops.ede_schedule(1.0) == pytest.approx((1.0, 10.0))
    k, t = ops.ede_schedule(0.25)
    assert t == pytest.approx(0.1 * 100 ** 0.25) and k == pytest.approx(1 / t)
    with pytest.raises(ValueError):
        ops.ede_schedule(1.5)


def test_dte_schedule_two_stages():
    # Boundary where t crosses 1: log(1/1e-3)/log(10/1e-3) = 3/4.
    assert ops.dte_boundary(1e-3, 10.0) == pytest.approx(0.75)
    k, t, stage = ops.dte_schedule(0.0, 1e-3, 10.0)
    assert (k, t, stage) == pytest.approx((1000.0, 1e-3, 1))
    k, t, stage = ops.dte_schedule(0.375, 1e-3, 10.0)
    assert stage == 1 and t == pytest.approx(10 ** -1.5) and k * t == pytest.approx(1)
    k, t, stage = ops.dte_schedule(0.875, 1e-3, 10.0)
    assert (k, stage) == (1.0, 2) and t == pytest.approx(10 ** 0.5)
    assert ops.dte_schedule(1.0, 1e-3, 10.0)[1] == pytest.approx(10.0)
    # With the default boundary DTE's t follows EDE's curve.
    for p in (0.1, 0.3, 0.6, 0.9):
        assert ops.dte_schedule(p)[1] == pytest.approx(ops.ede_schedule(p)[1])
    k, t, stage = ops.dte_schedule(0.3, boundary=0.2)
    assert stage == 2 and k == 1.0 and t == pytest.approx(10 ** (0.1 / 0.8))


def test_dte_ratio_cap_keeps_epsilon_of_elements_updating():
    torch.manual_seed(0)
    x = torch.randn(10000)
    cap = ops.dte_ratio_cap(x, epsilon=0.1, delta=0.1)
    q = x.abs().sort().values[math.ceil(0.1 * (x.numel() - 1))]  # rounded up
    assert cap.item() == pytest.approx(math.atanh(math.sqrt(0.9)) / q.item(),
                                       rel=1e-5)
    assert ops.updating_ratio(x, cap, 0.1).item() >= 0.1 - 1e-4
    assert ops.updating_ratio(x, cap * 1.5, 0.1).item() < 0.1
    # At the cap, the epsilon-quantile element sits exactly at factor delta.
    factor = 1 - math.tanh(cap.item() * q.item()) ** 2
    assert factor == pytest.approx(0.1, rel=1e-4)


def test_dte_gain_is_the_mean_square_factor_by_hand():
    x = torch.tensor([0.0, 0.25, -0.5, 1.0, -3.0])
    for t, k in ((1.0, 1.0), (2.0, 1.0), (7.5, 1.0), (0.5, 2.0)):
        assert ops.dte_gain(x, t, k).item() == pytest.approx(
            numpy_gain(x, t, k)[0], rel=1e-5)
    # A 1-D t gives one gain per value; at x = 0 the gain is (k t)^2.
    gains = ops.dte_gain(torch.zeros(3), torch.tensor([1.0, 2.0, 3.0]))
    assert gains.tolist() == pytest.approx([1.0, 4.0, 9.0])
    # Stage 1's k = 1/t keeps every factor at most 1: gain <= 1.
    assert ops.dte_gain(x, 0.3, 1 / 0.3).item() <= 1.0
    # float32 whatever the dtype of t and k (the estimators' precision).
    wide = torch.tensor([2.0], dtype=torch.float64)
    assert ops.dte_gain(x, wide).dtype == torch.float32
    assert ops.dte_gain(x, 2.0, wide).dtype == torch.float32


@pytest.mark.parametrize('distribution,scale', [
    ('normal', 1.0), ('normal', 3.0), ('uniform', 1.0), ('heavy', 1.0)])
def test_dte_gain_cap_is_where_the_gain_first_exceeds_the_bound(
        distribution, scale):
    x = draw_weight(7, (2048, ), distribution, scale).float()
    for max_gain in (1.0, 2.5):
        cap = ops.dte_gain_cap(x, max_gain).item()
        # Against a brute-force search on a grid 8000x finer: the log-log
        # interpolation between the coarse grid's points is within 1%.
        assert cap == pytest.approx(first_crossing(x, max_gain), rel=0.01)
        assert numpy_gain(x, cap * 0.99)[0] <= max_gain
        assert numpy_gain(x, cap * 1.01)[0] > max_gain
    # For N(0, sigma) the gain grows about like 0.53 t / sigma: the cap
    # grows with the spread of the elements.
    if distribution == 'normal':
        assert cap == pytest.approx(2.5 * scale / 0.53, rel=0.25)


def test_dte_gain_cap_at_its_ends_and_on_a_subsample():
    # Elements at 0: gain t^2, linear in log-log, interpolated exactly; in
    # the grid's first interval (1 to 1.33), inside it and in its last
    # (750 to 1000).
    for max_gain in (1.5, 4.0, 900.0 ** 2):
        assert ops.dte_gain_cap(torch.zeros(10), max_gain).item() == \
            pytest.approx(math.sqrt(max_gain), rel=1e-5)
    # A bound below the gain at t = 1 gives t = 1; elements away from 0
    # (a trained binary layer's) never reach the bound: the limit.
    assert ops.dte_gain_cap(torch.zeros(10), 0.5).item() == 1.0
    far = torch.tensor([-1.0, 1.0, -1.2, 0.9] * 10)
    assert ops.dte_gain_cap(far).item() == ops.T_CAP_LIMIT
    # More than 2048 elements: an evenly strided subsample (every 3rd of
    # 6144 here), so the cap is that subsample's.
    x = torch.randn(6144, generator=torch.Generator().manual_seed(3))
    assert ops.dte_gain_cap(x).item() == ops.dte_gain_cap(x[::3]).item()
    assert ops.dte_gain_cap(x).item() != ops.dte_gain_cap(x[1::3]).item()


@pytest.mark.parametrize('call,message', [
    (lambda: ops.dte_boundary(0.0, 10.0), r'DTE needs t_min < 1 < t_max, got 0.0, 10.0'),
    (lambda: ops.dte_boundary(1.0, 10.0), 'DTE needs'),
    (lambda: ops.dte_boundary(0.1, 1.0), 'DTE needs'),
    (lambda: ops.dte_schedule(0.5, boundary=0.0), r'boundary must be in \(0, 1\), got 0.0'),
    (lambda: ops.dte_schedule(0.5, boundary=1.0), 'boundary must be in'),
    (lambda: ops.dte_ratio_cap(torch.ones(4), epsilon=0.0), r'epsilon and delta must be in \(0, 1\), got 0.0, 0.1'),
    (lambda: ops.dte_ratio_cap(torch.ones(4), epsilon=1.0), 'epsilon and delta'),
    (lambda: ops.dte_ratio_cap(torch.ones(4), delta=0.0), 'epsilon and delta'),
    (lambda: ops.dte_ratio_cap(torch.ones(4), delta=1.0), 'epsilon and delta'),
    (lambda: ops.dte_t_cap(torch.ones(4), delta=1.0), 'epsilon and delta'),
    (lambda: ops.dte_gain_cap(torch.ones(4), max_gain=0.0), 'max_gain must be > 0, got 0.0'),
    (lambda: ops.dte_t_cap(torch.ones(4), max_gain=-1.0), 'max_gain must be > 0'),
])
def test_schedule_arguments_at_their_bounds_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_dte_ratio_cap_of_a_large_tensor_uses_an_evenly_strided_subsample():
    x = torch.arange(1, 1001, dtype=torch.float32)  # |x| = 1 ... 1000
    # 1000 elements, at most 100 samples: every 10th, 1, 11, ..., 991; its
    # 0.1-quantile rounded up is element ceil(0.1 * 99) = 10: 101.
    cap = ops.dte_ratio_cap(x, 0.1, 0.1, max_samples=100)
    assert cap.item() == pytest.approx(math.atanh(math.sqrt(0.9)) / 101.0)
    full = ops.dte_ratio_cap(x, 0.1, 0.1)  # ceil(0.1 * 999) = 100: 101 too
    assert full.item() == pytest.approx(math.atanh(math.sqrt(0.9)) / 101.0)
    shifted = ops.dte_ratio_cap(x.flip(0), 0.1, 0.1, max_samples=100)
    # 1000, 990, ..., 10: quantile element 10 of the sorted 10, 20, ...: 110.
    assert shifted.item() == pytest.approx(math.atanh(math.sqrt(0.9)) / 110.0)


def test_schedule_helpers_defaults_and_boundaries():
    """Defaults as documented (t in [0.1, 10], epsilon = delta = 0.1); an
    element exactly at the threshold counts as updating (``>= delta``) and
    ``|x| = 1`` is not saturated (the clipped STE still passes it)."""
    assert ops.dte_boundary() == pytest.approx(0.5)  # log 10 / log 100
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert ops.dte_t_cap(x).item() == ops.dte_t_cap(x, 0.1, 0.1, 1.0).item()
    assert ops.dte_ratio_cap(x).item() == ops.dte_ratio_cap(x, 0.1, 0.1).item()
    # dte_t_cap's ratio_samples is the ratio bound's subsample size.
    assert ops.dte_t_cap(x, max_gain=None, ratio_samples=100).item() == \
        ops.dte_ratio_cap(x, max_samples=100).item() != \
        ops.dte_ratio_cap(x).item()
    assert ops.dte_gain_cap(x).item() == ops.dte_gain_cap(x, 1.0).item()
    assert ops.updating_ratio(x, 2.0).item() == ops.updating_ratio(
        x, 2.0, 0.1).item()
    assert ops.updating_ratio(torch.zeros(4), 1.0, delta=1.0).item() == 1.0
    assert ops.saturation(torch.tensor([1.0, -1.0, 1.5, 0.0])).item() == 0.25
    for call, message in (
            (lambda: ops.ede_schedule(1.5), 'progress p must be in [0, 1], got 1.5'),
            (lambda: ops.ede_schedule(0.5, 0.0, 1.0),
             'need 0 < t_min < t_max, got 0.0, 1.0'),
            (lambda: ops.dte_schedule(0.5, 2.0, 2.0),
             'need 0 < t_min < t_max, got 2.0, 2.0')):
        with pytest.raises(ValueError) as e:
            call()
        assert e.value.args[0] == message


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
    cap = ops.dte_ratio_cap(x, epsilon, delta)
    # At the cap itself the boundary element's factor is delta up to
    # rounding; a hair below it, it is strictly inside.
    ratio = ops.updating_ratio(x, cap * (1 - 1e-5), delta).item()
    assert ratio >= epsilon
    if cap < ops.T_CAP_LIMIT:
        # The cap is the largest such t: 1% above it, the element at the
        # quantile (and any tied with it) stops updating.
        assert ops.updating_ratio(x, cap * 1.01, delta).item() < ratio
    # DTE's bound is the tighter of this one and the gain's.
    both = ops.dte_t_cap(x, epsilon, delta)
    assert both == torch.minimum(cap, ops.dte_gain_cap(x))
    assert ops.updating_ratio(x, both * (1 - 1e-5), delta).item() >= epsilon


def test_bounds_are_computed_on_the_input_device():
    """``t`` and ``k`` given as Python numbers or as tensors on another
    device are brought to ``x``'s, and the bounds stay there (no host
    round trip in a training step): on PyTorch's ``meta`` device, where a
    stray CPU tensor of one or more elements raises."""
    x = torch.randn(300, device='meta')
    for t, k in ((2.0, 1.0), (torch.tensor([1.0, 2.0]), torch.tensor([2.0])),
                 (3.0, torch.tensor([0.5]))):
        assert ops.dte_gain(x, t, k).device.type == 'meta'
    for cap in (ops.dte_gain_cap(x), ops.dte_ratio_cap(x), ops.dte_t_cap(x)):
        assert (cap.device.type, cap.shape) == ('meta', ())
