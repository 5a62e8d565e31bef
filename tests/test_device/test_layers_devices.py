"""Binary layers and blocks on each device against a float64 copy on the
CPU: outputs, every parameter's gradient, the schedule buffers and DTE's
running cap, in DTE's two stages; buffers made and moved with the layer."""
import copy

import pytest
import torch
import torch.nn as nn

from devices import assert_close_to
from mmbnn.models.layers import (BinaryConv2d, BinaryLinear, BiRealBasicBlock,
                                 ReActBlock)

CONV = dict(type='BinaryConv2d')
REACT_CONV = dict(type='BinaryConv2d', weight_binarizer='xnor',
                  weight_estimator='ste', activation_estimator='approx')


def _stage(module, stage, t):
    """Every binary layer of ``module`` at schedule point ``(k, t, stage)``
    as the scheduler hook leaves it."""
    for m in module.modules():
        if isinstance(m, (BinaryConv2d, BinaryLinear)):
            m.k.fill_(1.0 if stage == 2 else 1.0 / t)
            m.t.fill_(t)
            m.stage.fill_(stage)
    return module


MODULES = {
    'conv': lambda: BinaryConv2d(8, 16, 3, padding=1, bias=True),
    'conv_s2_groups': lambda: BinaryConv2d(8, 8, 3, stride=2, padding=1,
                                           groups=2, bias=False),
    'linear': lambda: BinaryLinear(40, 12),
    'bireal': lambda: BiRealBasicBlock(8, 16, 2, CONV, dict(type='BN'),
                                       dict(type='Hardtanh')),
    'react': lambda: ReActBlock(8, 16, 2, REACT_CONV, dict(type='BN')),
}


def _input(name, seed=0):
    shape = (6, 40) if name == 'linear' else (4, 8, 10, 10)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _run(module, x):
    x = x.clone().requires_grad_(True)
    out = module(x)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(99))
    out.backward(grad.to(out))
    return out.detach(), x.grad, {n: p.grad for n, p in
                                  module.named_parameters()}


@pytest.mark.parametrize('stage,t', [(1, 0.3), (2, 6.0)])
@pytest.mark.parametrize('name', sorted(MODULES))
def test_layer_on_device_matches_float64_on_cpu(device, name, stage, t):
    """Training mode, float32 on the device against the same module in
    float64 on the CPU: the output within 1e-5 (binary products are exact;
    BN statistics and the float32 shortcut round), every gradient within
    1e-4 (a chain of float32 reductions), DTE's running activation cap and
    the batch's BN statistics too; nothing left on another device."""
    torch.manual_seed(0)
    ref = _stage(MODULES[name]().train(), stage, t)
    mod = copy.deepcopy(ref).to(device)
    ref = ref.double()
    out, gx, grads = _run(mod, _input(name).to(device))
    out64, gx64, grads64 = _run(ref, _input(name).double())
    assert out.device.type == device.type and out.dtype == torch.float32
    assert_close_to(out, out64, 1e-5, f'{name} output')
    assert_close_to(gx, gx64, 1e-4, f'{name} input gradient')
    for key, g in grads.items():
        assert g is not None, key
        assert g.device.type == device.type, key
        assert_close_to(g, grads64[key], 1e-4, f'{name} {key} gradient')
    state, state64 = mod.state_dict(), ref.state_dict()
    for key, value in state.items():
        assert value.device.type == device.type, key
        if value.is_floating_point():
            assert_close_to(value, state64[key], 1e-5, f'{name} {key}')
        else:
            assert torch.equal(value.cpu(), state64[key]), key
    layers = [m for m in mod.modules() if isinstance(m, (BinaryConv2d,
                                                         BinaryLinear))]
    for layer in layers:
        # DTE's stage 2 leaves the bounds' flags, on the device, for the
        # diagnostics hook; stage 1 leaves none.
        binds = layer.cap_binds
        if stage == 2 and layer.activation_estimator == 'dte':
            assert set(binds) == {'weights', 'activations'}
            assert all(b.device.type == device.type and b.dtype == torch.bool
                       for b in binds.values())
            assert torch.isfinite(layer.act_t_cap).item()
        else:
            assert not binds


@pytest.mark.parametrize('cls,args', [(BinaryConv2d, (3, 4, 3)),
                                      (BinaryLinear, (5, 2))])
def test_buffers_are_made_on_and_follow_the_layers_device(device, cls, args):
    """``device=`` puts the schedule buffers where the weights are; ``.to``
    moves them; after a move the layer reads its stage from the new buffer
    (a stage-2 forward then sets the running cap, on that device)."""
    layer = cls(*args, device=device)
    for name in ('weight', 'bias', *cls.SCHEDULE_BUFFERS):
        assert getattr(layer, name).device.type == device.type, name
    assert layer.k.dtype == layer.t.dtype == layer.act_t_cap.dtype == torch.float32
    assert layer.stage.dtype == torch.long
    on_cpu = cls(*args)
    x = torch.randn(2, *((3, 6, 6) if cls is BinaryConv2d else (5, )))
    on_cpu(x).sum().backward()  # stage 1 read and cached on the CPU
    moved = on_cpu.to(device)
    for name in cls.SCHEDULE_BUFFERS:
        assert getattr(moved, name).device.type == device.type, name
    moved.stage.fill_(2)
    moved.t.fill_(5.0)
    moved(x.to(device)).sum().backward()
    assert moved._stage_value() == 2
    assert moved.act_t_cap.device.type == device.type
    assert torch.isfinite(moved.act_t_cap).item()


@pytest.mark.parametrize('name', ['conv', 'bireal'])
def test_eval_forward_on_device_matches_cpu(device, name):
    """Eval mode (running BN statistics, no cap update, no gradient): the
    device's output equals the CPU float32 output to 1e-6 and the running
    cap is untouched."""
    torch.manual_seed(1)
    ref = _stage(MODULES[name](), 2, 4.0)
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    ref.eval()
    mod = copy.deepcopy(ref).to(device)
    x = _input(name, seed=3)
    with torch.no_grad():
        out = mod(x.to(device))
        want = ref.double()(x.double())
    assert_close_to(out, want, 1e-6, f'{name} eval output')
    for layer in mod.modules():
        if isinstance(layer, BinaryConv2d):
            assert torch.isinf(layer.act_t_cap).item()
