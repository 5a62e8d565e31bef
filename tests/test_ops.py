"""mmbnn.ops against hand-computed values and analytic derivatives."""
import math

import pytest
import torch

from mmbnn import ops


def test_sign_of_zero_is_plus_one_for_every_estimator():
    x = torch.tensor([-2.0, -0.0, 0.0, 1e-9, 3.0])
    expected = torch.tensor([-1.0, 1.0, 1.0, 1.0, 1.0])
    for fn in (ops.ste_sign, ops.approx_sign, ops.ede_sign, ops.dte_sign,
               ops.binary_sign):
        assert torch.equal(fn(x), expected), fn


def _grad(fn, x, *args):
    x = x.clone().requires_grad_(True)
    fn(x, *args).sum().backward()
    return x.grad


def test_ste_gradient_is_clipped_identity():
    x = torch.tensor([-1.5, -1.0, -0.3, 0.0, 0.99, 1.0, 1.01])
    assert torch.equal(_grad(ops.ste_sign, x),
                       torch.tensor([0.0, 1, 1, 1, 1, 1, 0]))


def test_approx_sign_gradient_matches_piecewise_formula():
    x = torch.tensor([-1.2, -1.0, -0.75, -0.25, 0.0, 0.25, 0.75, 1.0, 2.0])
    # 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere.
    expected = torch.tensor([0.0, 0.0, 0.5, 1.5, 2.0, 1.5, 0.5, 0.0, 0.0])
    torch.testing.assert_close(_grad(ops.approx_sign, x), expected)


@pytest.mark.parametrize('k,t', [(1.0, 1.0), (10.0, 0.1), (1.0, 5.0)])
def test_ede_gradient_is_derivative_of_k_tanh_tx(k, t):
    x = torch.linspace(-3, 3, 41, dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    (k * torch.tanh(t * xg)).sum().backward()  # autograd of g, independently
    torch.testing.assert_close(_grad(ops.ede_sign, x, k, t), xg.grad)
    assert _grad(ops.ede_sign, torch.tensor([0.0]), k, t).item() == \
        pytest.approx(k * t)


def test_dte_caps_t():
    x = torch.tensor([0.1, 0.5, 2.0])
    capped = _grad(lambda v: ops.dte_sign(v, 1.0, 8.0, t_cap=2.0), x)
    torch.testing.assert_close(capped, _grad(ops.ede_sign, x, 1.0, 2.0))
    uncapped = _grad(lambda v: ops.dte_sign(v, 1.0, 8.0, t_cap=100.0), x)
    torch.testing.assert_close(uncapped, _grad(ops.ede_sign, x, 1.0, 8.0))


def test_estimators_preserve_dtype_and_work_under_autocast():
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        x = torch.randn(8, dtype=dtype, requires_grad=True)
        y = ops.ede_sign(x, 1.0, 2.0)
        assert y.dtype == dtype
        y.sum().backward()
        assert x.grad.dtype == dtype
    conv_w = torch.randn(4, 3, 3, 3, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = torch.nn.functional.conv2d(ops.ste_sign(torch.randn(1, 3, 8, 8)),
                                         ops.imb(conv_w))
    out.float().sum().backward()
    assert conv_w.grad is not None and torch.isfinite(conv_w.grad).all()


def test_imb_hand_computed():
    # Filter [1, 2, 3, 6]: mean 3, centered [-2, -1, 0, 3], unbiased std
    # sqrt(14/3) = 2.1602; w_hat = [-0.926, -0.463, 0, 1.389];
    # mean|w_hat| = 0.6944 -> log2 = -0.526 -> round -> -1 -> s = 0.5.
    w = torch.tensor([[1.0, 2.0, 3.0, 6.0]]).view(1, 1, 2, 2)
    out = ops.imb(w)
    expected = 0.5 * torch.tensor([-1.0, -1.0, 1.0, 1.0]).view(1, 1, 2, 2)
    torch.testing.assert_close(out, expected)
    std = math.sqrt(14 / 3)
    torch.testing.assert_close(
        ops.imb_standardize(w).flatten(),
        torch.tensor([-2 / std, -1 / std, 0.0, 3 / std]))


def test_power_of_two_rounding_boundary():
    # mean|w_hat| around 2**-0.5 = 0.7071 is where the scale flips 1/2 <-> 1.
    b = 2 ** -0.5
    for mean_abs, scale in ((b - 1e-4, 0.5), (b + 1e-4, 1.0), (0.80, 1.0),
                            (1.5, 2.0), (1.4, 1.0)):
        w_hat = torch.full((1, 8), mean_abs)
        w_hat[0, ::2] *= -1
        assert ops.power_of_two_scale(w_hat).item() == scale, mean_abs


def test_imb_is_balanced_per_channel_and_scales_are_powers_of_two():
    torch.manual_seed(0)
    w = torch.randn(16, 8, 3, 3) * torch.rand(16, 1, 1, 1) * 5 + 3
    out = ops.imb(w)
    signs = torch.sign(out).flatten(1)
    assert (signs.mean(1).abs() < 0.35).all()  # roughly half +1 per filter
    scales = out.abs().flatten(1)
    assert torch.equal(scales.min(1).values, scales.max(1).values)
    log2 = torch.log2(scales[:, 0])
    assert torch.equal(log2, log2.round())


def test_imb_gradient_flows_through_standardization():
    torch.manual_seed(0)
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    (ops.imb(w) * upstream).sum().backward()
    # Reference: STE on w_hat, then the exact Jacobian of the standardization.
    w2 = w.detach().clone().requires_grad_(True)
    w_hat = ops.imb_standardize(w2)
    scale = ops.power_of_two_scale(w_hat)
    inside = (w_hat.detach().abs() <= 1).double()
    (w_hat * (scale * upstream * inside).detach()).sum().backward()
    torch.testing.assert_close(w.grad, w2.grad)
    # Not just STE on w: the mean/std terms make the gradient sum to zero
    # per filter (a shift of the filter does not change w_hat).
    torch.testing.assert_close(w.grad.flatten(1).sum(1),
                               torch.zeros(2, dtype=torch.float64))


def test_xnor_and_sign():
    w = torch.tensor([[1.0, -3.0], [0.0, -2.0]])
    torch.testing.assert_close(ops.xnor(w), torch.tensor([[2.0, -2.0],
                                                          [1.0, -1.0]]))
    torch.testing.assert_close(ops.sign(w), torch.tensor([[1.0, -1.0],
                                                          [1.0, -1.0]]))


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


def test_dte_cap_keeps_epsilon_of_elements_updating():
    torch.manual_seed(0)
    x = torch.randn(10000)
    cap = ops.dte_t_cap(x, epsilon=0.1, delta=0.1)
    q = x.abs().sort().values[math.ceil(0.1 * (x.numel() - 1))]  # rounded up
    assert cap.item() == pytest.approx(math.atanh(math.sqrt(0.9)) / q.item(),
                                       rel=1e-5)
    assert ops.updating_ratio(x, cap, 0.1).item() >= 0.1 - 1e-4
    assert ops.updating_ratio(x, cap * 1.5, 0.1).item() < 0.1
    # At the cap, the epsilon-quantile element sits exactly at factor delta.
    factor = 1 - math.tanh(cap.item() * q.item()) ** 2
    assert factor == pytest.approx(0.1, rel=1e-4)


@pytest.mark.parametrize('call,message', [
    (lambda: ops.dte_boundary(0.0, 10.0), r'DTE needs t_min < 1 < t_max, got 0.0, 10.0'),
    (lambda: ops.dte_boundary(1.0, 10.0), 'DTE needs'),
    (lambda: ops.dte_boundary(0.1, 1.0), 'DTE needs'),
    (lambda: ops.dte_schedule(0.5, boundary=0.0), r'boundary must be in \(0, 1\), got 0.0'),
    (lambda: ops.dte_schedule(0.5, boundary=1.0), 'boundary must be in'),
    (lambda: ops.dte_t_cap(torch.ones(4), epsilon=0.0), r'epsilon and delta must be in \(0, 1\), got 0.0, 0.1'),
    (lambda: ops.dte_t_cap(torch.ones(4), epsilon=1.0), 'epsilon and delta'),
    (lambda: ops.dte_t_cap(torch.ones(4), delta=0.0), 'epsilon and delta'),
    (lambda: ops.dte_t_cap(torch.ones(4), delta=1.0), 'epsilon and delta'),
])
def test_schedule_arguments_at_their_bounds_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_dte_cap_of_a_large_tensor_uses_an_evenly_strided_subsample():
    x = torch.arange(1, 1001, dtype=torch.float32)  # |x| = 1 ... 1000
    # 1000 elements, at most 100 samples: every 10th, 1, 11, ..., 991; its
    # 0.1-quantile rounded up is element ceil(0.1 * 99) = 10: 101.
    cap = ops.dte_t_cap(x, 0.1, 0.1, max_samples=100)
    assert cap.item() == pytest.approx(math.atanh(math.sqrt(0.9)) / 101.0)
    full = ops.dte_t_cap(x, 0.1, 0.1)  # ceil(0.1 * 999) = 100: 101 too
    assert full.item() == pytest.approx(math.atanh(math.sqrt(0.9)) / 101.0)
    shifted = ops.dte_t_cap(x.flip(0), 0.1, 0.1, max_samples=100)
    # 1000, 990, ..., 10: quantile element 10 of the sorted 10, 20, ...: 110.
    assert shifted.item() == pytest.approx(math.atanh(math.sqrt(0.9)) / 110.0)


def test_tanh_estimators_default_to_k_1_and_t_1():
    """``ede_sign(x)`` and ``dte_sign(x)`` without k and t: the gradient of
    ``tanh(x)``, ``1 - tanh(x)^2``."""
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for fn in (ops.ede_sign, ops.dte_sign):
        leaf = x.clone().requires_grad_()
        fn(leaf).sum().backward()
        torch.testing.assert_close(leaf.grad, 1 - torch.tanh(x) ** 2)


def test_schedule_helpers_defaults_and_boundaries():
    """Defaults as documented (t in [0.1, 10], epsilon = delta = 0.1); an
    element exactly at the threshold counts as updating (``>= delta``) and
    ``|x| = 1`` is not saturated (the clipped STE still passes it)."""
    assert ops.dte_boundary() == pytest.approx(0.5)  # log 10 / log 100
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert ops.dte_t_cap(x).item() == ops.dte_t_cap(x, 0.1, 0.1).item()
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
