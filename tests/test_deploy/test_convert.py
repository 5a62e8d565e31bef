"""mmbnn/deploy/convert.py: fused blocks run BN, residual and packing in the
kernel and equal the exact runtime."""
import copy

import pytest
import torch
import torch.nn as nn

from mmbnn.deploy import to_xnor
from mmbnn.ops.xnor_conv import ConvCall
from toy import randomize_norms


def _bireal(**kwargs):
    from mmbnn.models.backbones import BiRealResNet
    torch.manual_seed(0)
    return randomize_norms(BiRealResNet(depth=18, base_channels=16,
                                         **kwargs), seed=5).eval()


def _native_call_counts(monkeypatch):
    """The list of the convs each native call runs, filled as they run (a
    call of several chains: a tuple of each one's count)."""
    from mmbnn.ops import xnor_conv
    counts = []
    real, real_chains = xnor_conv._run_native, xnor_conv._run_native_chains

    def spy(args, count, *rest):
        counts.append(count)
        return real(args, count, *rest)

    def spy_chains(sequence, io):
        counts.append(tuple(len(c.calls) for c in sequence.chains))
        return real_chains(sequence, io)

    monkeypatch.setattr(xnor_conv, '_run_native', spy)
    monkeypatch.setattr(xnor_conv, '_run_native_chains', spy_chains)
    return counts


def test_fused_blocks_run_bn_residual_and_packing_in_the_kernel(monkeypatch):
    """With fuse=True the BNs after binary convs are never called (folded),
    every binary conv but the first reads the sign bits its predecessor
    wrote, each stage runs in one native call (a chain: its downsampling
    conv, then the three with identity shortcuts), and the result is the
    exact runtime's within float rounding."""
    from mmbnn.deploy import fuse_xnor_blocks
    from mmbnn.ops import xnor_conv
    model = _bireal()
    exact = to_xnor(copy.deepcopy(model), fuse=False)
    fused = to_xnor(copy.deepcopy(model), fuse=False)
    assert fuse_xnor_blocks(fused) == 16
    calls = []
    for name, m in fused.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    chains, packed_given = [], []
    real = xnor_conv._run_native  # every conv's way to the library

    def spy(args, count, x, packed, *rest):
        # Inside a chain each conv reads the bits the one before wrote.
        chains.append(count)
        packed_given.extend([packed is not None] + [True] * (count - 1))
        return real(args, count, x, packed, *rest)

    monkeypatch.setattr(xnor_conv, '_run_native', spy)
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        out = fused(x)
        fused_chains, fused_packed = list(chains), list(packed_given)
        ref = exact(x)
    # Only the stem's and the real shortcuts' BNs ran.
    assert sorted(calls) == ['stages.1.0.0.shortcut.2', 'stages.2.0.0.shortcut.2',
                             'stages.3.0.0.shortcut.2', 'stem.1']
    assert fused_chains == [4] * 4
    assert fused_packed == [False] + [True] * 15
    assert chains[4:] == [1] * 16  # alone, each layer is a call and packs
    assert packed_given[16:] == [False] * 16
    for a, b in zip(out, ref):
        assert a.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_chained_stages_follow_hooks_modes_and_changes_in_place(monkeypatch):
    """A stage runs as chains only where nothing would be skipped: a hook on
    one of its convs (or a global one) makes its block run conv by conv,
    and the hook fires; a BN in training mode too. Chains prepared once
    follow a BN's statistics and a weight's bits changed in place, also the
    statistics a BN in training mode moved (inside its kernel: their
    versions stay), and each stage equals the exact runtime throughout."""
    model = _bireal()
    exact = to_xnor(copy.deepcopy(model), fuse=False)
    fused = to_xnor(copy.deepcopy(model), fuse=True)
    counts = _native_call_counts(monkeypatch)
    x = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(3))

    def check(expected_counts):
        counts.clear()
        with torch.no_grad():
            out = fused(x)
            assert counts == expected_counts
            for a, b in zip(out, exact(x)):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        return out

    first = check([4] * 4)
    assert check([4] * 4)[3].equal(first[3])  # prepared chains reused
    seen = []
    # Stage 2's second block runs conv by conv, its first one as a chain.
    hook = fused.stages[2][1][0].register_forward_hook(
        lambda *a: seen.append(1))
    check([4, 4, 2, 1, 1, 4])
    assert seen == [1]
    hook.remove()
    handle = nn.modules.module.register_module_forward_hook(lambda *a: None)
    check([1] * 16)
    handle.remove()
    for net in (fused, exact):  # in place, as a state dict load writes
        net.stages[1][0][1].norm.running_mean.add_(0.5)
        net.stages[3][1][1].conv.weight_bits.bitwise_not_()
    moved = check([4] * 4)
    assert not moved[3].equal(first[3])
    for net in (fused, exact):
        net.stages[0][1][0].norm.train()
    check([2, 1, 1, 4, 4, 4])  # (and both BNs' statistics move alike)
    for net in (fused, exact):
        net.stages[0][1][0].norm.eval()
    check([4] * 4)


def _int8_bireal(gen):
    """The fused Bi-Real ResNet with its full-precision layers in int8
    (calibrated on two 64 x 96 inputs); skips where this CPU has no native
    int8 path."""
    from mmbnn.deploy import quantize_float_layers
    from mmbnn.deploy.int8 import _native_int8_isa
    if _native_int8_isa() is None:
        pytest.skip('no native int8 path on this CPU')
    model = to_xnor(_bireal())
    quantize_float_layers(model, [torch.randn(1, 3, 64, 96, generator=gen)
                                  for _ in range(2)])
    return model


def test_int8_shortcuts_run_inside_their_stage_chain(monkeypatch):
    """With int8 full-precision layers each downsample shortcut (pool,
    quantize, 1x1 conv) runs inside its stage's native call: no
    ``pooled_int8_conv`` call of its own once the chains are prepared, the
    same outputs bit for bit as the shortcut module run in Python (a hook on
    it keeps it there, and the hook fires), and the plan follows a hook
    added later."""
    from mmbnn.deploy import convert, int8
    gen = torch.Generator().manual_seed(8)
    fused = _int8_bireal(gen)
    hooked = copy.deepcopy(fused)
    seen = []
    for stage in hooked.stages[1:]:
        stage[0][0].shortcut.register_forward_hook(
            lambda *a: seen.append(1))
    pooled = []
    real = int8.pooled_int8_conv

    def spy(*args):
        pooled.append(1)
        return real(*args)

    monkeypatch.setattr(int8, 'pooled_int8_conv', spy)
    x = torch.randn(2, 3, 64, 96, generator=gen)
    with torch.no_grad():
        out = fused(x)  # prepares (the shortcuts once in Python)
        pooled.clear()
        out = fused(x)
        assert pooled == []
        ref = hooked(x)
        assert pooled == [1] * 3 and seen == [1] * 3
        for a, b in zip(out, ref):
            assert a.equal(b)
        chains = convert._PLANS[fused.stages[1]][2]
        assert [chain.shortcut is not None for _, chain in chains] == [True]
        fused.stages[1][0][0].shortcut.register_forward_hook(
            lambda *a: seen.append(2))
        pooled.clear()
        assert fused(x)[1].equal(ref[1])
        assert pooled == [1] and seen[-1] == 2


def test_chained_stages_follow_new_int8_shortcut_weights():
    """New weights set on an int8 downsample shortcut's op
    (``set_weight_bias``) after its stage prepared the chain it runs in are
    seen: the outputs, bit for bit, of the same model given those weights
    before it ever ran."""
    import warnings

    from mmbnn.deploy.convert import _int8_shortcut
    from mmbnn.deploy.int8 import _quantized_weight
    model = _int8_bireal(torch.Generator().manual_seed(8))
    fresh = _int8_bireal(torch.Generator().manual_seed(8))
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # quantized tensors deprecated
        model(x)
        before = model(x)
        for net in (model, fresh):
            layer = _int8_shortcut(net.stages[2][0][0].shortcut)
            layer.op.set_weight_bias(
                _quantized_weight(-layer.op.weight().dequantize()),
                layer.op.bias())
        after = model(x)
        for a, b in zip(after, fresh(x)):
            assert a.equal(b)
        assert before[1].equal(after[1]) and not before[2].equal(after[2])


def test_frozen_stages_keep_their_plan_until_unfrozen(monkeypatch):
    """``freeze``: a frozen stage's prepared chains run without the checks
    of its weights and statistics, so a BN's statistics changed in place
    are not seen (the old outputs, exactly) until ``freeze(model, False)``;
    ``model.train()`` and a global hook are still followed; the outputs are
    the unfrozen ones. A copy of a frozen model that ran prepares its own
    chains (they hold the addresses of the tensors they were made for)."""
    from mmbnn.deploy import freeze
    model = _bireal()
    exact = to_xnor(copy.deepcopy(model), fuse=False)
    fused = to_xnor(copy.deepcopy(model))
    assert freeze(fused) == 4 + 8 + 1  # the stages, blocks and backbone
    counts = _native_call_counts(monkeypatch)
    x = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(4))

    def close(a, b):
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-4)

    with torch.no_grad():
        first = fused(x)
        close(first, exact(x))
        for net in (fused, exact):
            net.stages[1][0][1].norm.running_mean.add_(0.5)
        counts.clear()
        stale = fused(x)
        assert counts == [4] * 4  # (float shortcuts: stage by stage)
        for a, b in zip(stale, first):
            assert a.equal(b)
        moved = exact(x)
        assert not moved[1].equal(first[1])
        freeze(fused, False)
        close(fused(x), moved)
        freeze(fused)
        handle = nn.modules.module.register_module_forward_hook(
            lambda *a: None)
        counts.clear()
        close(fused(x), moved)
        assert counts == [1] * 16
        handle.remove()
        fused.train()
        exact.train()
        close(fused(x), exact(x))
        fused.eval()
        exact.eval()
        counts.clear()
        out = fused(x)  # chains prepared anew: the statistics moved
        assert counts == [4] * 4
        close(out, exact(x))
        twin, exact_twin = copy.deepcopy(fused), copy.deepcopy(exact)
        for net in (twin, exact_twin):
            net.stages[2][0][0].norm.running_var.mul_(3)
        del fused
        close(twin(x), exact_twin(x))


def test_a_frozen_backbone_runs_its_stages_in_one_call(monkeypatch):
    """With int8 shortcuts (no module between its stages' chains) a frozen
    Bi-Real ResNet runs all four stages in one native call from its second
    call on, every stage's output bit for bit the unfrozen model's; a hook
    on a stage makes it run stage by stage (the hook fires), as does a
    stage unfrozen alone, and a new input size prepares the stages anew,
    then one call again."""
    from mmbnn.deploy import freeze
    gen = torch.Generator().manual_seed(9)
    unfrozen = _int8_bireal(gen)
    frozen = copy.deepcopy(unfrozen)
    freeze(frozen)
    counts = _native_call_counts(monkeypatch)
    seen = []
    with torch.no_grad():
        for size in ((64, 96), (32, 64)):
            x = torch.randn(1, 3, *size, generator=gen)
            counts.clear()
            frozen(x)  # prepares the stages
            assert counts == [4] * 4
            counts.clear()
            out = frozen(x)
            assert counts == [(4, 4, 4, 4)]
            ref = unfrozen(x)
            assert len(out) == 4
            for a, b in zip(out, ref):
                assert a.equal(b)
        hook = frozen.stages[2].register_forward_hook(
            lambda *a: seen.append(1))
        counts.clear()
        for a, b in zip(frozen(x), ref):
            assert a.equal(b)
        assert counts == [4] * 4 and seen == [1]
        hook.remove()
        counts.clear()
        frozen(x)
        assert counts == [(4, 4, 4, 4)]
        freeze(frozen.stages[1], False)  # one stage unfrozen: stage by stage
        counts.clear()
        frozen(x)
        assert counts == [4] * 4


def test_a_frozen_classifier_runs_its_pool_and_int8_fc_in_one_call(
        monkeypatch):
    """A frozen mmpretrain classifier with an int8 fc computes its logits
    from the backbone's last output in one native call
    (``Int8Linear.pooled``): bit for bit the pool as ``F.avg_pool2d`` sums
    it, quantized, times the int8 weights (computed here from the same
    features), and the unfrozen model's (the neck's adaptive pool, then the
    fc) within what one input step in every channel can move a logit;
    ``predict`` scores those logits. A hook on the head (it fires), a
    non-square input, a global hook, training mode and unfreezing run
    mmpretrain's neck and head: the unfrozen outputs, exactly. The class
    made for it is found by name (pickle)."""
    import pickle
    import warnings

    import torch.nn.functional as F

    from mmbnn.deploy import convert, freeze, quantize_float_layers
    from mmbnn.deploy.int8 import Int8Linear, _native_int8_isa
    from mmbnn.models import build_model
    from toy import TOY_CLASSIFIER
    if _native_int8_isa() is None:
        pytest.skip('no native int8 path on this CPU')
    cfg = copy.deepcopy(TOY_CLASSIFIER)
    cfg['backbone']['base_channels'] = 16  # 64 channels
    cfg['head'].update(in_channels=64, num_classes=40)
    torch.manual_seed(0)
    model = to_xnor(randomize_norms(build_model(cfg, scope='mmpretrain'),
                                    seed=3))
    gen = torch.Generator().manual_seed(11)
    quantize_float_layers(model, [torch.randn(2, 3, 16, 16, generator=gen)
                                  for _ in range(2)],
                          lambda m, b: m(b, mode='tensor'))
    fc = model.head.fc
    assert type(fc) is Int8Linear
    frozen = copy.deepcopy(model)
    assert freeze(frozen) == 3 + 9 + 1 + 1  # stages, blocks, backbone, head
    assert type(frozen) is convert._ChainedImageClassifier
    assert pickle.loads(pickle.dumps(type(frozen))) is type(frozen)
    calls = []
    real = Int8Linear.pooled
    monkeypatch.setattr(Int8Linear, 'pooled',
                        lambda self, x: calls.append(x.shape) or real(self, x))
    x = torch.randn(3, 3, 16, 16, generator=gen)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # quantized tensors deprecated
        logits = frozen(x, mode='tensor')
        assert calls == [(3, 64, 4, 4)]
        feats = frozen.backbone(x)[-1]
        q = torch.quantize_per_tensor(
            F.avg_pool2d(feats, 4).flatten(1), fc.in_scale, fc.in_zero_point,
            torch.quint8).int_repr().long()
        wq = fc.op.weight().int_repr().long()
        alpha = (fc.in_scale * fc.op.weight().q_per_channel_scales()).float()
        expected = (q @ wq.T - fc.in_zero_point * wq.sum(1)).float() * \
            alpha + fc.op.bias()
        assert torch.equal(logits, expected)
        ref = model(x, mode='tensor')
        bound = (alpha * wq.abs().sum(1)).max().item()
        torch.testing.assert_close(logits, ref, rtol=0, atol=bound)
        predicted = frozen(x, mode='predict')
        assert len(calls) == 2
        for sample, row in zip(predicted, expected):
            torch.testing.assert_close(sample.pred_score, row.softmax(0))
            assert sample.pred_label.item() == row.argmax().item()
        seen = []
        hook = frozen.head.register_forward_hook(lambda *a: seen.append(1))
        assert frozen(x, mode='tensor').equal(ref) and seen == [1]
        hook.remove()
        handle = nn.modules.module.register_module_forward_hook(
            lambda *a: None)
        assert frozen(x, mode='tensor').equal(ref)
        handle.remove()
        freeze(frozen, False)
        assert frozen(x, mode='tensor').equal(ref)
        assert len(calls) == 2
        freeze(frozen)
        wide = torch.randn(2, 3, 16, 20, generator=gen)
        assert frozen(wide, mode='tensor').equal(model(wide, mode='tensor'))
        assert calls[2:] == [(2, 64, 4, 5)]  # (not square: declined)
        frozen.train()
        frozen(x, mode='tensor')
        assert len(calls) == 3


def test_a_fused_model_that_ran_pickles():
    """A fused, frozen model that has run pickles without its prepared
    native calls (they hold the addresses of its tensors): the unpickled
    one prepares its own and gives the same outputs, bit for bit."""
    import pickle

    from mmbnn.deploy import freeze
    fused = to_xnor(_bireal())
    freeze(fused)
    x = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        fused(x)
        out = fused(x)
        twin = pickle.loads(pickle.dumps(fused))
        for _ in range(2):
            for a, b in zip(twin(x), out):
                assert a.equal(b)


def test_fused_blocks_keep_other_activations_and_norms_exact():
    """A Hardtanh other than [-1, 1] is applied after the kernel, not as its
    clip; BN without affine parameters folds too."""
    for kwargs in (dict(act_cfg=dict(type='Hardtanh', min_val=-2.0,
                                     max_val=2.0)),
                   dict(norm_cfg=dict(type='BN', affine=False))):
        model = _bireal(**kwargs)
        x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            ref = to_xnor(copy.deepcopy(model), fuse=False)(x)
            out = to_xnor(copy.deepcopy(model), fuse=True)(x)
        assert ref[0].abs().max() > 1.2 or 'norm_cfg' in kwargs
        for a, b in zip(out, ref):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('act,demo', [(None, False), ('Hardtanh', False),
                                      ('ReLU', False), (None, True)])
def test_fused_conv_modules_of_the_ssd_vgg(act, demo):
    """mmcv ConvModules (and the shortcut ones) with a binary conv: BN folded
    (never called), the residual and Hardtanh in the kernel, another
    activation after it; equal to the exact runtime within float rounding.
    ``demo``: the demo's layout, whose widening convs' shortcuts repeat the
    input and whose pools are followed by a BN (a PyTorch layer between
    fused blocks)."""
    from mmbnn.models.backbones import SSDVGGBN
    torch.manual_seed(0)
    model = randomize_norms(SSDVGGBN(
        widen_factor=0.25, conv_cfg=dict(type='BinaryConv2d'),
        act_cfg=None if act is None else dict(type=act), shortcuts=True,
        duplicate_shortcuts=demo, pool_norm=demo), seed=3).eval()
    exact = to_xnor(copy.deepcopy(model), fuse=False)
    fused = to_xnor(copy.deepcopy(model), fuse=True)
    calls = []
    for name, m in fused.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    x = torch.randn(1, 3, 48, 40, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        out, ref = fused(x), exact(x)
    pools = [f'layers.pool{i}.1' for i in range(1, 6)] if demo else []
    assert calls == ['layers.conv1_1.bn', *pools]  # the real layers' BNs
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_a_fused_module_called_outside_its_fused_case_is_the_plain_one():
    """``norm=False``, ``activate=False`` or a BN in training mode: the
    fused ConvModule and Bi-Real conv compute what the unfused ones do;
    binary linear layers are converted too, half-binary ones are not."""
    from mmcv.cnn import ConvModule

    from mmbnn.deploy import XnorConv2d, XnorLinear
    from mmbnn.models.layers import BinaryLinear
    from mmbnn.models.layers.bireal import BiRealConv
    torch.manual_seed(0)
    module = randomize_norms(nn.Sequential(ConvModule(
        8, 8, 3, padding=1, conv_cfg=dict(type='BinaryConv2d'),
        norm_cfg=dict(type='BN'), act_cfg=dict(type='Hardtanh'))), seed=2)
    exact = to_xnor(copy.deepcopy(module), fuse=False)[0]
    fused = to_xnor(copy.deepcopy(module), fuse=True)[0]
    assert type(fused).__name__ == '_FusedConvModule'
    assert isinstance(fused.conv, XnorConv2d)
    x = torch.randn(2, 8, 6, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for kwargs in (dict(norm=False), dict(norm=False, activate=False)):
            assert torch.equal(fused(x, **kwargs), exact(x, **kwargs)), kwargs
        # Without the activation BN still folds: equal within its rounding,
        # not clipped.
        out = fused(x, activate=False)
        torch.testing.assert_close(out, exact(x, activate=False), rtol=1e-5,
                                   atol=1e-5)
        assert out.abs().max() > 1
        fused.norm.train()
        exact.norm.train()
        assert torch.equal(fused(x), exact(x))

    block = randomize_norms(nn.Sequential(BiRealConv(
        8, 8, 1, dict(type='BinaryConv2d'), dict(type='BN'),
        dict(type='Hardtanh'))), seed=4)
    exact, fused = (to_xnor(copy.deepcopy(block), fuse=f)[0]
                    for f in (False, True))
    assert type(fused).__name__ == '_FusedBiRealConv'
    with torch.no_grad():
        fused.norm.train()
        exact.norm.train()
        assert torch.equal(fused(x), exact(x))

    # Fused unless asked not to.
    assert type(to_xnor(copy.deepcopy(module))[0]).__name__ == \
        '_FusedConvModule'

    model = nn.Sequential(nn.Flatten(), BinaryLinear(288, 5),
                          BinaryLinear(5, 3, binarize='weights')).eval()
    ref = model(x)
    to_xnor(model)
    assert [type(m) for m in model] == [nn.Flatten, XnorLinear, BinaryLinear]
    torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('frozen', [False, True])
def test_a_fused_model_called_from_several_threads_at_once(frozen):
    """Prepared calls and chains are shared by threads calling one model
    at once (a server's workers): each call passes its own addresses and
    scratch, so every thread gets what a call alone gives. (Before, a
    prepared call kept its tensors' addresses in its shared array.) Also
    a frozen int8 model, whose stages run in one call."""
    import threading

    from mmbnn.deploy import freeze
    gen = torch.Generator().manual_seed(11)
    if frozen:
        model, size = _int8_bireal(gen), (64, 96)
        freeze(model)
    else:
        model, size = to_xnor(_bireal(), fuse=True), (40, 40)
    inputs = [torch.randn(1, 3, *size, generator=gen) for _ in range(4)]
    with torch.no_grad():
        alone = [model(x) for x in inputs]
    results, errors = {}, []

    def work(i):
        try:
            with torch.no_grad():
                for _ in range(10):
                    out = model(inputs[i])
                    if not all(a.equal(b) for a, b in zip(out, alone[i])):
                        results[i] = False
                        return
            results[i] = True
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(i, )) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == {i: True for i in range(4)}
