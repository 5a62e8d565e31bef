"""mmbnn/models/layers/binary.py: BinaryConv2d and BinaryLinear against
F.conv2d / F.linear on hand-binarized tensors, their gradients against the
configured estimators, their arguments, buffers and stage."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmbnn import ops
from mmbnn.models.layers import BinaryConv2d, BinaryLinear
from reference import as_numpy, signs, surrogate_grad


def _imb_by_hand(w):
    """IMB written out independently of mmbnn.ops."""
    flat = w.reshape(w.shape[0], -1).double()
    c = flat - flat.mean(1, keepdim=True)
    n = c.shape[1]
    std = (c.pow(2).sum(1, keepdim=True) / (n - 1)).sqrt()
    w_hat = c / std
    s = 2.0 ** torch.round(torch.log2(w_hat.abs().mean(1, keepdim=True)))
    return (s * signs(w_hat)).reshape(w.shape).to(w.dtype)


CASES = [
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, padding=2),
    dict(in_channels=6, out_channels=9, kernel_size=3, groups=3, padding=1),
    dict(in_channels=4, out_channels=5, kernel_size=(1, 3), padding=(0, 1),
         bias=True),
    dict(in_channels=4, out_channels=5, kernel_size=(3, 2), stride=(2, 1)),
    dict(in_channels=4, out_channels=4, kernel_size=3, padding=1,
         padding_mode='circular'),
]


@pytest.mark.parametrize('kwargs', CASES)
def test_conv_equals_f_conv2d_on_binarized_tensors(kwargs):
    torch.manual_seed(0)
    kwargs = dict(bias=False, **kwargs) if 'bias' not in kwargs else kwargs
    layer = BinaryConv2d(**kwargs)
    x = torch.randn(2, kwargs['in_channels'], 11, 9)
    x[0, 0, 0, :3] = 0.0  # sign(0) = +1
    xb, wb = signs(x), _imb_by_hand(layer.weight.detach())
    ref_layer = torch.nn.Conv2d(**kwargs)
    with torch.no_grad():
        ref_layer.weight.copy_(wb)
        if layer.bias is not None:
            ref_layer.bias.copy_(layer.bias)
    torch.testing.assert_close(layer(x), ref_layer(xb))
    if kwargs.get('padding_mode', 'zeros') == 'zeros':
        expected = F.conv2d(xb, wb, layer.bias, layer.stride, layer.padding,
                            layer.dilation, layer.groups)
        torch.testing.assert_close(layer(x), expected)


def test_modes_choose_what_is_binarized():
    torch.manual_seed(1)
    x = torch.randn(1, 4, 8, 8)
    layer = BinaryConv2d(4, 4, 3, padding=1, bias=False)
    w = layer.weight.detach()
    wb = _imb_by_hand(w)
    expected = {
        'both': F.conv2d(signs(x), wb, padding=1),
        'activations': F.conv2d(signs(x), w, padding=1),
        'weights': F.conv2d(x, wb, padding=1),
        'none': F.conv2d(x, w, padding=1),
    }
    for mode, out in expected.items():
        layer.binarize = mode
        torch.testing.assert_close(layer(x), out)


def test_xnor_and_sign_weight_binarizers():
    torch.manual_seed(2)
    x = torch.randn(1, 3, 6, 6)
    for name in ('xnor', 'sign'):
        layer = BinaryConv2d(3, 4, 3, bias=False, weight_binarizer=name)
        w = layer.weight.detach()
        alpha = (w.abs().mean((1, 2, 3), keepdim=True) if name == 'xnor'
                 else torch.ones(4, 1, 1, 1))
        torch.testing.assert_close(layer(x), F.conv2d(signs(x), alpha * signs(w)))


def test_linear_equals_f_linear():
    torch.manual_seed(3)
    layer = BinaryLinear(10, 4)
    x = torch.randn(5, 10)
    expected = F.linear(signs(x), _imb_by_hand(layer.weight.detach()), layer.bias)
    torch.testing.assert_close(layer(x), expected)


def test_gradients_follow_the_estimators():
    torch.manual_seed(4)
    layer = BinaryConv2d(2, 3, 1, bias=False, activation_estimator='ste',
                         weight_estimator='ste')
    x = (torch.randn(1, 2, 5, 5) * 2).requires_grad_(True)
    layer(x).sum().backward()
    outside = x.detach().abs() > 1
    assert (x.grad[outside] == 0).all() and (x.grad[~outside] != 0).all()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    # Through IMB's standardization the gradient of each filter sums to 0.
    torch.testing.assert_close(layer.weight.grad.sum((1, 2, 3)),
                               torch.zeros(3), atol=1e-5, rtol=0)


def test_ede_layer_uses_its_k_and_t_buffers():
    layer = BinaryConv2d(1, 1, 1, bias=False, binarize='activations',
                         activation_estimator='ede')
    with torch.no_grad():
        layer.weight.fill_(1.0)
    layer.k.fill_(2.0)
    layer.t.fill_(3.0)
    x = torch.tensor([[[[0.0, 0.2, -0.5]]]], requires_grad=True)
    layer(x).sum().backward()
    expected = 2.0 * 3.0 * (1 - torch.tanh(3.0 * x.detach()) ** 2)
    torch.testing.assert_close(x.grad, expected)


def test_dte_stage_two_caps_t_to_keep_elements_updating():
    torch.manual_seed(5)
    layer = BinaryConv2d(8, 8, 3, padding=1, bias=False)
    layer.stage.fill_(2)
    layer.k.fill_(1.0)
    layer.t.fill_(1e4)  # uncapped, almost no element would get a gradient
    layer.train()
    x = torch.randn(4, 8, 6, 6, requires_grad=True)
    layer(x).sum().backward()
    assert torch.isfinite(layer.act_t_cap) and layer.act_t_cap < 1e4
    assert (layer.weight.grad.abs() > 0).float().mean() > 0.1
    assert (x.grad.abs() > 1e-6).float().mean() >= 0.09


def test_registered_as_conv_layer_for_mmcv_modules():
    from mmcv.cnn import ConvModule
    module = ConvModule(4, 8, 3, padding=1, conv_cfg=dict(
        type='BinaryConv2d', weight_binarizer='xnor'), norm_cfg=dict(type='BN'))
    assert isinstance(module.conv, BinaryConv2d)
    assert module.conv.weight_binarizer == 'xnor'
    assert module(torch.randn(2, 4, 5, 5)).shape == (2, 8, 5, 5)


_BOUNDS = 'epsilon and delta must be in (0, 1) and act_cap_momentum in [0, 1)'


@pytest.mark.parametrize('kwargs,message', [
    (dict(binarize='all'), "unknown binarize mode 'all'; choose from "
     "['activations', 'both', 'none', 'weights']"),
    (dict(weight_binarizer='ternary'), "unknown weight_binarizer 'ternary'; "
     "choose from ['imb', 'sign', 'xnor']"),
    (dict(activation_binarizer='imb'), "unknown activation_binarizer 'imb'; "
     "choose from ['sign']"),
    (dict(weight_estimator='tanh'), "unknown weight_estimator 'tanh'; "
     "choose from ['approx', 'dte', 'ede', 'ste']"),
    (dict(activation_estimator='magic'), "unknown activation_estimator "
     "'magic'; choose from ['approx', 'dte', 'ede', 'ste']"),
    *[(dict(**{key: value}), _BOUNDS) for key, value in (
        ('epsilon', 0.0), ('epsilon', 1.0), ('delta', 0.0), ('delta', 1.0),
        ('act_cap_momentum', -0.1), ('act_cap_momentum', 1.0))],
    (dict(max_gain=0.0), 'max_gain must be > 0 or None, got 0.0'),
    (dict(weight_max_gain=-1.0), 'weight_max_gain must be > 0 or None, got -1.0'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError) as e:
        BinaryConv2d(2, 2, 3, **kwargs)
    assert e.value.args[0] == message


def test_arguments_inside_their_bounds_are_taken():
    layer = BinaryConv2d(2, 2, 3, epsilon=0.999, delta=1e-3, act_cap_momentum=0)
    assert (layer.epsilon, layer.delta, layer.act_cap_momentum) == (0.999, 1e-3, 0)
    assert BinaryConv2d(2, 2, 3, epsilon=1e-3, delta=0.999).delta == 0.999
    layer = BinaryConv2d(2, 2, 3)
    assert (layer.max_gain, layer.weight_max_gain) == (1.0, None)  # defaults
    layer = BinaryConv2d(2, 2, 3, max_gain=None, weight_max_gain=1e-3)
    assert (layer.max_gain, layer.weight_max_gain) == (None, 1e-3)
    # BinaryLinear takes the same arguments with the same defaults.
    linear = BinaryLinear(2, 2)
    assert (linear.max_gain, linear.weight_max_gain, linear.epsilon,
            linear.delta, linear.act_cap_momentum) == (1.0, None, 0.1, 0.1, 0.9)
    linear = BinaryLinear(2, 2, max_gain=None, weight_max_gain=1e-3)
    assert (linear.max_gain, linear.weight_max_gain) == (None, 1e-3)


@pytest.mark.parametrize('make', [
    lambda **kw: BinaryConv2d(3, 4, 3, **kw),
    lambda **kw: BinaryLinear(3, 4, **kw),
])
def test_layers_pass_bias_device_and_dtype_to_torch(make):
    assert make().bias is not None  # torch's default: a bias
    assert make(bias=False).bias is None
    wide = make(dtype=torch.float64)
    assert wide.weight.dtype == torch.float64 and wide.bias.dtype == torch.float64
    on_meta = make(device='meta')
    assert on_meta.weight.is_meta
    # The schedule's buffers too: float32 k, t and cap (inf until set), a
    # long stage, whatever the weights' dtype.
    for layer in (on_meta, wide, make()):
        buffers = dict(layer.named_buffers())
        assert sorted(buffers) == ['act_t_cap', 'k', 'stage', 't']
        assert all(b.device == layer.weight.device for b in buffers.values())
        assert [buffers[k].dtype for k in ('k', 't', 'act_t_cap', 'stage')] == [
            torch.float32] * 3 + [torch.long]
    plain = make()
    assert (plain.k.item(), plain.t.item(), plain.stage.item(),
            plain.act_t_cap.item()) == (1.0, 1.0, 1, float('inf'))
    assert plain.track_stats is False and plain.stats == {}


def test_bad_binarize_mode_for_a_model_is_named():
    from mmbnn.models.layers.binary import set_binarize_mode
    with pytest.raises(ValueError, match="unknown binarize mode 'half'"):
        set_binarize_mode(torch.nn.Sequential(BinaryLinear(2, 2)), 'half')


def test_stage_follows_every_way_the_buffer_changes():
    """The layer reads ``stage`` from its buffer only when it changed, so
    the scheduler's fill, a checkpoint load and a copy are all seen."""
    layer = BinaryConv2d(4, 4, 3, padding=1).train()
    x = torch.randn(2, 4, 5, 5)
    layer(x)
    assert torch.isinf(layer.act_t_cap)  # stage 1: no activation cap
    layer.stage.fill_(2)  # BinarySchedulerHook
    layer(x)
    assert torch.isfinite(layer.act_t_cap)
    state = layer.state_dict()
    state['stage'] = torch.tensor(1)
    state['act_t_cap'] = torch.tensor(float('inf'))
    layer.load_state_dict(state)
    layer(x)
    assert torch.isinf(layer.act_t_cap)
    twin = BinaryConv2d(4, 4, 3, padding=1).train()
    twin(x)
    # A move to another device replaces the buffer by a new tensor (version 0).
    twin._apply(lambda t: torch.full_like(t, 2) if t.dtype == torch.long
                else t.clone())
    assert twin.stage._version == 0
    twin(x)
    assert torch.isfinite(twin.act_t_cap)


def test_stage_two_imb_weight_standardizes_once_with_the_same_result():
    """Stage 2 of DTE reads the standardized filter for its cap and binarizes
    it: one standardization, the forward and gradients of ``imb``."""
    from mmbnn.ops import dte_sign, dte_t_cap, imb, imb_standardize
    torch.manual_seed(3)
    layer = BinaryConv2d(5, 6, 3).train()
    layer.stage.fill_(2)
    layer.t.fill_(50.0)
    w = layer.weight.detach().clone().requires_grad_()
    # The weights' bound: the updating ratio (no gain bound by default).
    cap = dte_t_cap(imb_standardize(w.detach()), layer.epsilon, layer.delta,
                    max_gain=None)
    expected = imb(w, lambda v: dte_sign(v, 1.0, 50.0, cap))
    got = layer.binarized_weight()
    assert torch.equal(got, expected)
    g = torch.randn_like(got)
    got.backward(g)
    expected.backward(g)
    assert torch.equal(layer.weight.grad, w.grad)
    calls = []
    import mmbnn.models.layers.binary as binary
    real = binary.imb_standardize

    def counting(t, *a):
        calls.append(1)
        return real(t, *a)
    binary.imb_standardize = counting
    try:
        layer.binarized_weight()
    finally:
        binary.imb_standardize = real
    assert len(calls) == 1


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
    expected = as_numpy(w_b.grad) * surrogate_grad(estimator, as_numpy(conv.weight),
                                              k=1.5, t=2.5)
    np.testing.assert_allclose(as_numpy(conv.weight.grad), expected, rtol=1e-5,
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
    expected = (as_numpy(upstream) @ as_numpy(linear.weight)) * surrogate_grad(
        estimator, as_numpy(x), k=0.5, t=3.0)
    np.testing.assert_allclose(as_numpy(x.grad), expected, rtol=1e-5, atol=1e-6)


def test_activation_cap_is_a_running_average_used_as_is_in_eval():
    """Catches a wrong or ignored ``act_cap_momentum`` and an eval mode that
    re-estimates (or drops) the cap: in stage 2 the first training forward
    sets the cap, later ones average it geometrically with momentum ``m``;
    eval uses it as is. (Each batch's cap is ``ops.dte_t_cap``, tested in
    test_ops/test_schedules.py.)"""
    torch.manual_seed(4)
    m = 0.75
    conv = BinaryConv2d(2, 2, 1, bias=False, binarize='activations',
                        activation_estimator='dte', act_cap_momentum=m)
    conv.stage.fill_(2)
    conv.t.fill_(50.0)  # above every cap: the cap decides
    x1, x2 = torch.randn(4, 2, 6, 6), torch.randn(4, 2, 6, 6) * 3
    cap1, cap2 = (ops.dte_t_cap(x).item() for x in (x1, x2))
    assert cap2 > 2 * cap1  # the cap follows the elements' spread
    conv.train()
    conv(x1.requires_grad_(True))
    assert conv.act_t_cap.item() == pytest.approx(cap1, rel=1e-6)
    assert conv.cap_binds['activations'].item() is True
    conv(x2.requires_grad_(True))
    running = math.exp(m * math.log(cap1) + (1 - m) * math.log(cap2))
    assert conv.act_t_cap.item() == pytest.approx(running, rel=1e-6)
    # Without a gradient to shape (BN re-estimation, say) nothing changes.
    with torch.no_grad():
        conv(torch.randn(4, 2, 6, 6) * 10)
    assert conv.act_t_cap.item() == pytest.approx(running, rel=1e-6)

    conv.eval()
    x3 = (torch.randn(1, 2, 6, 6) * 0.1).requires_grad_(True)
    upstream = torch.randn(1, 2, 6, 6)
    (conv(x3) * upstream).sum().backward()
    assert conv.act_t_cap.item() == pytest.approx(running, rel=1e-6)
    t = min(50.0, running)
    w = as_numpy(conv.weight)[:, :, 0, 0]
    expected = np.einsum('oi,bohw->bihw', w, as_numpy(upstream)) * surrogate_grad(
        'dte', as_numpy(x3), k=1.0, t=t)
    np.testing.assert_allclose(as_numpy(x3.grad), expected, rtol=1e-5, atol=1e-6)


def test_activation_cap_of_a_large_input_reads_a_4096_element_subsample():
    """The running cap's batch estimate reads an evenly strided subsample of
    at most 4096 elements (docs/methods.md 1.2): against the ratio bound by
    its definition on that subsample (the gain bound off)."""
    from reference import numpy_ratio_cap
    torch.manual_seed(6)
    conv = BinaryConv2d(2, 2, 1, bias=False, binarize='activations',
                        max_gain=None).train()
    conv.stage.fill_(2)
    x = torch.randn(4, 2, 40, 40) * torch.rand(4, 2, 1, 1)  # 12800 elements
    conv(x.requires_grad_(True))
    flat = as_numpy(x).ravel()
    expected = numpy_ratio_cap(flat[::flat.size // 4096], 0.1, 0.1)
    assert conv.act_t_cap.item() == pytest.approx(expected, rel=1e-6)
    # The subsample matters on this input: the whole tensor's bound differs.
    assert numpy_ratio_cap(flat, 0.1, 0.1) != pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize('binarizer,estimator', [
    ('sign', 'dte'), ('imb', 'dte'), ('sign', 'ede')])
def test_tracked_weight_statistics_read_what_the_sign_sees(binarizer, estimator):
    """With ``track_stats`` (the iterations the scheduler logs) a tanh
    estimator's weights report their effective ``t`` and updating ratio,
    computed on the elements the sign sees: the standardized filter for
    IMB, the raw weights otherwise (the stage-2 bound too); without it
    nothing is computed."""
    from reference import numpy_ratio_cap
    torch.manual_seed(7)
    conv = BinaryConv2d(3, 4, 3, bias=False, binarize='weights',
                        weight_binarizer=binarizer, weight_estimator=estimator)
    with torch.no_grad():
        conv.weight.mul_(0.2)  # raw weights far from their standardized form
    conv.stage.fill_(2)
    conv.t.fill_(1000.0)  # above every bound: the bound decides
    x = torch.randn(2, 3, 5, 5)
    conv(x).sum().backward()
    assert conv.stats == {}
    conv.track_stats = True
    conv(x).sum().backward()
    w = as_numpy(conv.weight).reshape(4, -1)
    if binarizer == 'imb':
        w = (w - w.mean(1, keepdims=True)) / w.std(1, ddof=1, keepdims=True)
    t = numpy_ratio_cap(w, 0.1, 0.1) if estimator == 'dte' else 1000.0
    assert conv.stats['weight_t'] == pytest.approx(t, rel=1e-5)
    factor = 1 - np.tanh(np.float32(t) * np.abs(w).astype(np.float32)) ** 2
    # At the bound the quantile element sits at factor delta exactly: it may
    # round to either side.
    assert conv.stats['weight_ratio'] == pytest.approx(np.mean(factor >= 0.1),
                                                       abs=1.01 / w.size)
    assert t < 999.0 or estimator == 'ede'  # the bound, not its limit


def test_the_bound_binds_only_below_the_schedules_t():
    """``cap_binds`` says whether DTE's bound lowered ``t``: not when the
    bound equals it. Zero weights and inputs put both bounds at their
    limit, 1000, exactly."""
    conv = BinaryConv2d(2, 2, 1, bias=False, weight_binarizer='sign',
                        max_gain=None).train()
    with torch.no_grad():
        conv.weight.zero_()
    conv.stage.fill_(2)
    x = torch.zeros(1, 2, 3, 3, requires_grad=True)
    for t, binds in ((1000.0, False), (1000.5, True)):
        conv.act_t_cap.fill_(float('inf'))
        conv.t.fill_(t)
        conv(x).sum().backward()
        assert conv.act_t_cap.item() == 1000.0
        assert conv.cap_binds['weights'].item() is binds
        assert conv.cap_binds['activations'].item() is binds
