"""Gradients and forwards of the binary layers against references written
independently of the code under test: closed forms evaluated in numpy
float64, and the layers' compositions rebuilt from ``torch.nn.functional``.

Each test names the defect it catches (they were put in by hand and passed
the suite before these tests existed; see docs/testing.md).
"""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmbnn import ops
from mmbnn.models.layers.bireal import BiRealConv
from mmbnn.models.layers import BinaryConv2d, BinaryLinear


def _np(x):
    return x.detach().double().numpy()


def surrogate_grad(name, x, k=1.0, t=1.0):
    """d/dx of each estimator's surrogate, in numpy float64 (methods.md 1.2)."""
    x = np.asarray(x, dtype=np.float64)
    if name == 'ste':
        return (np.abs(x) <= 1).astype(np.float64)
    if name == 'approx':
        return np.maximum(2 - 2 * np.abs(x), 0)
    return k * t * (1 - np.tanh(t * x) ** 2)


# ------------------------------------------------------------------- IMB

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

    flat, up = _np(w).reshape(3, -1), _np(upstream).reshape(3, -1)
    n = flat.shape[1]
    c = flat - flat.mean(1, keepdims=True)
    sigma = np.sqrt((c ** 2).sum(1, keepdims=True) / (n - 1))
    w_hat = c / sigma
    s = 2.0 ** np.round(np.log2(np.abs(w_hat).mean(1, keepdims=True)))
    g = s * up * (np.abs(w_hat) <= 1)
    expected = (g - g.mean(1, keepdims=True)
                - w_hat * (g * w_hat).sum(1, keepdims=True) / (n - 1)) / sigma
    np.testing.assert_allclose(_np(leaf.grad).reshape(3, -1), expected,
                               rtol=1e-10, atol=1e-12)
    # The forward, from the same numpy quantities.
    np.testing.assert_array_equal(
        _np(ops.imb(w)).reshape(3, -1), s * np.where(w_hat >= 0, 1.0, -1.0))


# --------------------------------------------- layers honour their estimators

@pytest.mark.parametrize('estimator', ['ste', 'approx', 'ede', 'dte'])
def test_conv_weight_gradient_follows_the_configured_weight_estimator(estimator):
    """Catches ``BinaryConv2d`` ignoring ``weight_estimator``: the latent
    weight's gradient is the conv's gradient at ``sign(w)`` times the
    estimator's derivative at ``w`` (sign binarizer: no scale)."""
    torch.manual_seed(2)
    conv = BinaryConv2d(3, 4, 3, padding=1, bias=False, binarize='weights',
                        weight_binarizer='sign', weight_estimator=estimator)
    conv.k.fill_(1.5)
    conv.t.fill_(2.5)  # stage 1: DTE is k t (1 - tanh(t x)^2) as EDE
    with torch.no_grad():
        conv.weight.mul_(3)  # spread past |w| = 1, where the estimators differ
    x = torch.randn(2, 3, 5, 5)
    upstream = torch.randn(2, 4, 5, 5)
    (conv(x) * upstream).sum().backward()

    w_b = torch.where(conv.weight >= 0, 1.0, -1.0).detach().requires_grad_(True)
    (F.conv2d(x, w_b, padding=1) * upstream).sum().backward()
    expected = _np(w_b.grad) * surrogate_grad(estimator, _np(conv.weight),
                                              k=1.5, t=2.5)
    np.testing.assert_allclose(_np(conv.weight.grad), expected, rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('estimator', ['ste', 'approx', 'ede', 'dte'])
def test_input_gradient_follows_the_configured_activation_estimator(estimator):
    """The same for the input: gradient at ``sign(x)`` times the derivative
    of the activation estimator at ``x`` (real weights)."""
    torch.manual_seed(3)
    linear = BinaryLinear(6, 4, binarize='activations',
                          activation_estimator=estimator)
    linear.k.fill_(0.5)
    linear.t.fill_(3.0)
    x = (torch.randn(5, 6) * 1.5).requires_grad_(True)
    upstream = torch.randn(5, 4)
    (linear(x) * upstream).sum().backward()
    expected = (_np(upstream) @ _np(linear.weight)) * surrogate_grad(
        estimator, _np(x), k=0.5, t=3.0)
    np.testing.assert_allclose(_np(x.grad), expected, rtol=1e-5, atol=1e-6)


def test_tanh_backward_is_computed_in_float32_for_bfloat16_inputs():
    """Catches the tanh estimators' backward run in the input's dtype: in
    bfloat16, ``tanh(3)`` rounds to 0.9961 and ``1 - tanh^2`` comes out 21%
    low; computed in float32 and rounded once it is within one bf16 step."""
    x64 = torch.linspace(2.6, 3.4, 33, dtype=torch.float64)
    x = x64.to(torch.bfloat16).requires_grad_(True)
    ops.ede_sign(x, 1.0, 1.0).sum().backward()
    assert x.grad.dtype == torch.bfloat16
    expected = surrogate_grad('ede', _np(x))  # at the bf16 inputs, exactly
    np.testing.assert_allclose(_np(x.grad), expected, rtol=2 ** -8)


# ------------------------------------------------- DTE's activation t cap

def _cap(x, epsilon=0.1, delta=0.1):
    """DTE's cap by its definition: artanh(sqrt(1 - delta)) over the
    epsilon-quantile of |x| (the smallest |x| with at least epsilon of the
    elements at or below it)."""
    a = np.sort(np.abs(_np(x)).ravel())
    q = a[math.ceil(epsilon * (a.size - 1))]
    return math.atanh(math.sqrt(1 - delta)) / q


def test_activation_cap_is_a_running_average_used_as_is_in_eval():
    """Catches a wrong or ignored ``act_cap_momentum`` and an eval mode that
    re-estimates (or drops) the cap: in stage 2 the first training forward
    sets the cap, later ones average with momentum ``m``; eval uses it as is.
    """
    torch.manual_seed(4)
    m = 0.75
    conv = BinaryConv2d(2, 2, 1, bias=False, binarize='activations',
                        activation_estimator='dte', act_cap_momentum=m)
    conv.stage.fill_(2)
    conv.t.fill_(50.0)  # above every cap: the cap decides
    x1, x2 = torch.randn(4, 2, 6, 6), torch.randn(4, 2, 6, 6) * 3
    conv.train()
    conv(x1)
    assert conv.act_t_cap.item() == pytest.approx(_cap(x1), rel=1e-6)
    conv(x2)
    running = m * _cap(x1) + (1 - m) * _cap(x2)
    assert conv.act_t_cap.item() == pytest.approx(running, rel=1e-6)

    conv.eval()
    x3 = (torch.randn(1, 2, 6, 6) * 0.1).requires_grad_(True)
    upstream = torch.randn(1, 2, 6, 6)
    (conv(x3) * upstream).sum().backward()
    assert conv.act_t_cap.item() == pytest.approx(running, rel=1e-6)
    t = min(50.0, running)
    w = _np(conv.weight)[:, :, 0, 0]
    expected = np.einsum('oi,bohw->bihw', w, _np(upstream)) * surrogate_grad(
        'dte', _np(x3), k=1.0, t=t)
    np.testing.assert_allclose(_np(x3.grad), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ Bi-Real conv

def _bireal(in_ch, out_ch, stride):
    torch.manual_seed(5)
    block = BiRealConv(in_ch, out_ch, stride,
                       dict(type='BinaryConv2d', weight_binarizer='sign',
                            weight_estimator='ste', activation_estimator='ste'),
                       dict(type='BN'), dict(type='Hardtanh'))
    block.eval()
    for bn in [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]:
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.3, 0.3)
    return block


def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight,
                        bn.bias, False, 0.0, bn.eps)


def test_bireal_conv_adds_the_identity_shortcut():
    """Catches a dropped Bi-Real shortcut: ``hardtanh(bn(conv(sign x, sign
    w)) + x)``, rebuilt with functional ops."""
    block = _bireal(4, 4, 1)
    x = torch.randn(2, 4, 6, 6)
    sign = lambda v: torch.where(v >= 0, 1.0, -1.0)  # noqa: E731
    conv = F.conv2d(sign(x), sign(block.conv.weight), padding=1)
    expected = F.hardtanh(_bn(conv, block.norm) + x)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)


def test_bireal_conv_downsample_shortcut_is_avgpool_conv_bn():
    """Stride 2 and a wider output: the shortcut is a real 2x2 average pool,
    a 1x1 conv and BN (IR-Net / Bi-Real's real downsample)."""
    block = _bireal(4, 8, 2)
    x = torch.randn(2, 4, 6, 6)
    sign = lambda v: torch.where(v >= 0, 1.0, -1.0)  # noqa: E731
    main = _bn(F.conv2d(sign(x), sign(block.conv.weight), stride=2,
                        padding=1), block.norm)
    pool, conv1x1, bn = block.shortcut
    short = _bn(F.conv2d(F.avg_pool2d(x, 2), conv1x1.weight), bn)
    with torch.no_grad():
        torch.testing.assert_close(block(x), F.hardtanh(main + short))


def test_xnor_forward_and_gradient_by_hand():
    """``alpha_c * sign(w)`` with ``alpha_c = mean|w_c|`` held constant: the
    gradient is ``alpha_c * upstream`` where ``|w| <= 1`` (clipped STE)."""
    torch.manual_seed(6)
    w = (torch.randn(3, 4, dtype=torch.float64) * 0.8).requires_grad_(True)
    upstream = torch.randn(3, 4, dtype=torch.float64)
    out = ops.xnor(w)
    (out * upstream).sum().backward()
    wn = _np(w)
    alpha = np.abs(wn).mean(1, keepdims=True)
    np.testing.assert_allclose(_np(out), alpha * np.where(wn >= 0, 1, -1))
    np.testing.assert_allclose(_np(w.grad),
                               alpha * _np(upstream) * (np.abs(wn) <= 1))
