"""Binary layers under automatic mixed precision (``torch.autocast``, bf16
and fp16, fp16 with a gradient scaler), against the same model in float32
on the same device; and mmengine's ``AmpOptimWrapper`` (what
``tools/train.py --amp`` selects) training binary layers."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from devices import relative_error
from mmbnn.models.layers import BinaryConv2d, BinaryLinear, BiRealBasicBlock

# Relative error of a gradient under autocast against float32, when the
# binary layer's input is the same in both (its signs agree): the conv's
# products are exact (+-1 times a power of two), what rounds is the output
# cast and the backward's half-precision convs: a few units of bf16's
# 8-bit / fp16's 11-bit mantissa.
SAME_SIGNS_TOL = {torch.bfloat16: 3e-2, torch.float16: 5e-3}


class OneBinary(nn.Module):
    """The input goes straight into one binary conv (its signs are the
    same under autocast), then BN, Hardtanh, pooling and a real head."""

    def __init__(self):
        super().__init__()
        self.conv = BinaryConv2d(4, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(F.hardtanh(self.bn(self.conv(x))).mean((2, 3)))


class Deep(nn.Module):
    """Two Bi-Real blocks and a binary linear layer: later signs are taken
    of half-precision values, so some flip against float32."""

    def __init__(self):
        super().__init__()
        conv = dict(type='BinaryConv2d')
        self.blocks = nn.Sequential(
            nn.Conv2d(4, 16, 3, padding=1), nn.BatchNorm2d(16),
            BiRealBasicBlock(16, 16, 1, conv, dict(type='BN'),
                             dict(type='Hardtanh')),
            BiRealBasicBlock(16, 32, 2, conv, dict(type='BN'),
                             dict(type='Hardtanh')))
        self.fc = BinaryLinear(32, 5)

    def forward(self, x):
        return self.fc(self.blocks(x).mean((2, 3)))


def _setup(cls, device, stage):
    torch.manual_seed(0)
    model = cls().to(device).train()
    for m in model.modules():
        if isinstance(m, (BinaryConv2d, BinaryLinear)):
            m.stage.fill_(stage)
            m.t.fill_(3.0 if stage == 2 else 0.5)
            m.k.fill_(1.0 if stage == 2 else 2.0)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 4, 12, 12, generator=gen).to(device)
    y = torch.randint(0, 5, (8, ), generator=gen).to(device)
    return model, x, y


def _grads(cls, device, stage, dtype=None, scaler=None):
    model, x, y = _setup(cls, device, stage)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        out = model(x)
        loss = F.cross_entropy(out.float(), y)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(torch.optim.SGD(model.parameters(), lr=0.0))
    else:
        loss.backward()
    return out, loss, {n: p.grad for n, p in model.named_parameters()}


def _autocast_ok(device, dtype):
    try:
        with torch.autocast(device.type, dtype=dtype):
            pass
    except (RuntimeError, AssertionError) as exc:
        pytest.skip(f'no {dtype} autocast on {device.type}: {exc}')


@pytest.mark.parametrize('stage', [1, 2])
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_one_binary_layer_under_autocast_matches_float32(device, dtype, stage):
    """Outputs and loss finite; the output in half precision; every
    gradient within ``SAME_SIGNS_TOL`` of float32's; fp16 through a
    ``GradScaler`` (unscaled before the comparison)."""
    _autocast_ok(device, dtype)
    scaler = (torch.amp.GradScaler(device.type, init_scale=2.0 ** 10)
              if dtype == torch.float16 else None)
    out, loss, grads = _grads(OneBinary, device, stage, dtype, scaler)
    _, loss32, grads32 = _grads(OneBinary, device, stage)
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert loss.item() == pytest.approx(loss32.item(), rel=SAME_SIGNS_TOL[dtype])
    for name, grad in grads.items():
        assert grad.dtype == torch.float32, name  # the parameters' dtype
        err = relative_error(grad, grads32[name])
        assert err <= SAME_SIGNS_TOL[dtype], (name, err)


def _whole(grads):
    return torch.cat([g.flatten().double().cpu() for _, g in sorted(grads.items())])


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_deep_binary_network_under_autocast_stays_close(device, dtype):
    """Several binary layers in DTE's stage 2: outputs and gradients finite,
    and autocast moves the whole gradient no further from float32's than
    float32 itself moves it when only its input is rounded to ``dtype``
    (cosine similarity, 0.15 of slack). A BNN's gradient is that sensitive:
    a later sign taken of a value near 0 flips with the rounding (measured
    on the CPU: bf16 autocast 0.73, rounded input 0.68; fp16 0.89, 0.86)."""
    _autocast_ok(device, dtype)
    scaler = (torch.amp.GradScaler(device.type, init_scale=2.0 ** 10)
              if dtype == torch.float16 else None)
    out, _, grads = _grads(Deep, device, 2, dtype, scaler)
    _, _, grads32 = _grads(Deep, device, 2)
    model, x, y = _setup(Deep, device, 2)
    F.cross_entropy(model(x.to(dtype).float()), y).backward()
    rounded = {n: p.grad for n, p in model.named_parameters()}
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(g).all() for g in grads.values())
    cos = F.cosine_similarity(_whole(grads), _whole(grads32), dim=0)
    floor = F.cosine_similarity(_whole(rounded), _whole(grads32), dim=0)
    assert cos >= floor - 0.15, (float(cos), float(floor))


def test_amp_optim_wrapper_trains_binary_layers(device, tmp_path, monkeypatch):
    """mmengine's ``AmpOptimWrapper``, as ``tools/train.py --amp`` sets it,
    trains the toy binary network with the DTE schedule: the loss is
    finite at every iteration and falls (CUDA only: mmengine's wrapper
    does not run on the CPU, and ``--amp`` refuses it with a message)."""
    if device.type != 'cuda':
        pytest.skip("mmengine's AmpOptimWrapper needs a GPU")
    from mmbnn.engine.hooks import BinarySchedulerHook
    from toy import toy_net, toy_runner
    monkeypatch.setattr('mmengine.runner.runner.get_device', lambda: 'cuda')
    torch.manual_seed(0)
    model = toy_net(BinaryConv2d(3, 16, 3, padding=1), BinaryConv2d(16, 16, 3,
                                                                   padding=1))
    losses = []

    class Record(BinarySchedulerHook):
        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            super().after_train_iter(runner, batch_idx, data_batch, outputs)
            losses.append(float(outputs['loss']))

    runner = toy_runner(tmp_path, [Record('dte')], model=model, epochs=6,
                        samples=32, optimizer=dict(type='Adam', lr=1e-2),
                        optim_wrapper=dict(type='AmpOptimWrapper',
                                           loss_scale='dynamic'))
    runner.train()
    assert type(runner.optim_wrapper).__name__ == 'AmpOptimWrapper'
    assert len(losses) == 48 and all(map(torch.isfinite,
                                         torch.tensor(losses)))
    assert sum(losses[-8:]) < sum(losses[:8])
