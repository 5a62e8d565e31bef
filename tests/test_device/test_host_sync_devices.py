"""No host synchronization in a binary layer's training forward and
backward: no scalar read (``.item()``, ``bool()``, ``int()``, ``float()`` on
a tensor), no data-dependent shape (``nonzero``, boolean indexing), no copy
to the host, in either DTE stage, on every call after the first.

Checked two ways: a dispatch mode that sees every ATen op (on every
device, so the CPU run guards the code CUDA runs; the CPU's native passes
are switched off for it, since they read ``k`` and ``t`` on the host, where
that costs nothing), and on CUDA PyTorch's own detector,
``torch.cuda.set_sync_debug_mode('error')``."""
import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mmbnn.models.layers import BinaryConv2d, BinaryLinear, BiRealBasicBlock

aten = torch.ops.aten
# Ops that make the host wait for the device.
HOST_READS = {aten._local_scalar_dense.default, aten.nonzero.default,
              aten.masked_select.default, aten.item.default,
              aten.is_nonzero.default}


class NoHostReads(TorchDispatchMode):
    """Raises on an op that reads device data on the host."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in HOST_READS:
            raise AssertionError(f'host read: {func}')
        if func is aten.index.Tensor and any(
                i is not None and i.dtype == torch.bool for i in args[1]):
            raise AssertionError(f'boolean mask (a data-dependent shape): {func}')
        if func is aten._to_copy.default:
            source = args[0].device
            target = kwargs.get('device') or source
            if source.type != 'cpu' and torch.device(target).type == 'cpu':
                raise AssertionError(f'copy to the host: {func}')
        return func(*args, **kwargs)


@contextlib.contextmanager
def no_host_sync(device):
    with contextlib.ExitStack() as stack:
        if device.type == 'cuda':
            previous = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode('error')
            stack.callback(torch.cuda.set_sync_debug_mode, previous)
        stack.enter_context(NoHostReads())
        yield


def test_the_detector_sees_a_host_read(device):
    """The check can fail: ``.item()``, ``bool()`` and boolean indexing on
    the device are caught."""
    x = torch.ones(3, device=device)
    for read in (lambda: x.sum().item(), lambda: bool(x.sum() > 0),
                 lambda: x[x > 0]):
        with pytest.raises((AssertionError, RuntimeError)):
            with no_host_sync(device):
                read()


MODULES = {
    'conv': lambda d: BinaryConv2d(8, 16, 3, padding=1, device=d),
    'linear': lambda d: BinaryLinear(24, 10, device=d),
    'bireal': lambda d: BiRealBasicBlock(
        8, 16, 2, dict(type='BinaryConv2d'), dict(type='BN'),
        dict(type='Hardtanh')).to(d),
}


@pytest.mark.parametrize('stage', [1, 2])
@pytest.mark.parametrize('name', sorted(MODULES))
def test_training_forward_and_backward_make_no_host_sync(device, name, stage,
                                                         monkeypatch):
    monkeypatch.setenv('MMBNN_ISA', 'reference')
    torch.manual_seed(0)
    module = MODULES[name](device).train()
    x = torch.randn((4, 24) if name == 'linear' else (4, 8, 8, 8),
                    device=device)
    layers = [m for m in module.modules()
              if isinstance(m, (BinaryConv2d, BinaryLinear))]

    def step(t):
        # What the scheduler hook does before each iteration: fills.
        for layer in layers:
            layer.k.fill_(1.0 if stage == 2 else 1.0 / t)
            layer.t.fill_(t)
        out = module(x.requires_grad_(True))
        out.square().mean().backward()

    for layer in layers:
        layer.stage.fill_(stage)
    step(0.5 if stage == 1 else 2.0)  # first call: reads the new stage once
    with no_host_sync(device):
        for t in ((0.6, 0.7) if stage == 1 else (3.0, 4.0)):
            step(t)
    assert all(p.grad is not None for p in module.parameters())
    if stage == 2:
        assert all(torch.isfinite(layer.act_t_cap).item() for layer in layers)
