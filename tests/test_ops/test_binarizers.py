"""mmbnn/ops/binarizers.py: IMB, XNOR and sign weights against hand-computed
values, numpy float64 closed forms and properties over drawn distributions."""
import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from mmbnn import ops
from reference import as_numpy, numpy_imb, weights


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
    # In the weights' dtype and shaped to broadcast against them.
    for dtype in (torch.float64, torch.bfloat16):
        w_hat = torch.full((3, 2, 1, 1), 1.5, dtype=dtype)
        scale = ops.power_of_two_scale(w_hat)
        assert (scale.dtype, scale.shape) == (dtype, (3, 1, 1, 1))
        assert scale.flatten().tolist() == [2.0] * 3


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


def test_imb_gradient_equals_the_closed_form_through_mean_and_std():
    """Catches a detached std (or mean) in IMB's standardization.

    With ``c = w - mean(w)``, ``sigma`` the unbiased std and ``w_hat = c /
    sigma``, back-propagating ``g`` (the gradient at ``w_hat``) gives
    ``(g - mean(g) - w_hat * sum(g * w_hat) / (n - 1)) / sigma`` per filter;
    with the clipped STE, ``g = s * upstream * [|w_hat| <= 1]``.
    """
    torch.manual_seed(1)
    w = (torch.randn(3, 2, 3, 3, dtype=torch.float64) * 0.05 + 0.01)
    upstream = torch.randn_like(w)
    leaf = w.clone().requires_grad_(True)
    (ops.imb(leaf, ops.ste_sign) * upstream).sum().backward()

    flat, up = as_numpy(w).reshape(3, -1), as_numpy(upstream).reshape(3, -1)
    n = flat.shape[1]
    c = flat - flat.mean(1, keepdims=True)
    sigma = np.sqrt((c ** 2).sum(1, keepdims=True) / (n - 1))
    w_hat = c / sigma
    s = 2.0 ** np.round(np.log2(np.abs(w_hat).mean(1, keepdims=True)))
    g = s * up * (np.abs(w_hat) <= 1)
    expected = (g - g.mean(1, keepdims=True)
                - w_hat * (g * w_hat).sum(1, keepdims=True) / (n - 1)) / sigma
    np.testing.assert_allclose(as_numpy(leaf.grad).reshape(3, -1), expected,
                               rtol=1e-10, atol=1e-12)
    # The forward, from the same numpy quantities.
    np.testing.assert_array_equal(
        as_numpy(ops.imb(w)).reshape(3, -1), s * np.where(w_hat >= 0, 1.0, -1.0))


def test_xnor_forward_and_gradient_by_hand():
    """``alpha_c * sign(w)`` with ``alpha_c = mean|w_c|`` held constant: the
    gradient is ``alpha_c * upstream`` where ``|w| <= 1`` (clipped STE)."""
    torch.manual_seed(6)
    w = (torch.randn(3, 4, dtype=torch.float64) * 0.8).requires_grad_(True)
    upstream = torch.randn(3, 4, dtype=torch.float64)
    out = ops.xnor(w)
    (out * upstream).sum().backward()
    wn = as_numpy(w)
    alpha = np.abs(wn).mean(1, keepdims=True)
    np.testing.assert_allclose(as_numpy(out), alpha * np.where(wn >= 0, 1, -1))
    np.testing.assert_allclose(as_numpy(w.grad),
                               alpha * as_numpy(upstream) * (np.abs(wn) <= 1))
