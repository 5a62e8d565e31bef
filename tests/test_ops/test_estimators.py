"""mmbnn/ops/estimators.py: every estimator's sign forward and backward against
its surrogate's derivative (hand values, numpy float64, central differences)."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from mmbnn import ops
from reference import as_numpy, surrogate_grad


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


def test_tanh_estimators_default_to_k_1_and_t_1():
    """``ede_sign(x)`` and ``dte_sign(x)`` without k and t: the gradient of
    ``tanh(x)``, ``1 - tanh(x)^2``."""
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for fn in (ops.ede_sign, ops.dte_sign):
        leaf = x.clone().requires_grad_()
        fn(leaf).sum().backward()
        torch.testing.assert_close(leaf.grad, 1 - torch.tanh(x) ** 2)


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


def test_tanh_backward_is_computed_in_float32_for_bfloat16_inputs():
    """Catches the tanh estimators' backward run in the input's dtype: in
    bfloat16, ``tanh(3)`` rounds to 0.9961 and ``1 - tanh^2`` comes out 21%
    low; computed in float32 and rounded once it is within one bf16 step."""
    x64 = torch.linspace(2.6, 3.4, 33, dtype=torch.float64)
    x = x64.to(torch.bfloat16).requires_grad_(True)
    ops.ede_sign(x, 1.0, 1.0).sum().backward()
    assert x.grad.dtype == torch.bfloat16
    expected = surrogate_grad('ede', as_numpy(x))  # at the bf16 inputs, exactly
    np.testing.assert_allclose(as_numpy(x.grad), expected, rtol=2 ** -8)


def test_scalar_arguments_are_made_on_the_input_device():
    """A Python ``k`` or ``t`` becomes a 0-dim tensor filled on ``x``'s
    device, in at least float32 (copying it from the host would be a sync
    on CUDA): on PyTorch's ``meta`` device."""
    from mmbnn.ops.estimators import _as_tensor
    for dtype, expected in ((torch.bfloat16, torch.float32),
                            (torch.float64, torch.float64)):
        value = _as_tensor(2.5, torch.empty(3, dtype=dtype, device='meta'))
        assert (value.device.type, value.dtype, value.shape) == \
            ('meta', expected, ())
    assert _as_tensor(2.5, torch.empty(1)).item() == 2.5
