"""The XNOR-popcount runtime and the .mmbnn file (docs/deploy.md)."""
import copy
import itertools
import os
import struct

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import ROOT, tool
from mmbnn.apis import init_model, load_config
from mmbnn.deploy import XnorConv2d, XnorLinear, export_model, to_xnor
from mmbnn.deploy.packed_file import (FORMAT_VERSION, PackedFileError,
                                      read_packed, write_packed)
from mmbnn.models.builder import build_model
from mmbnn.models.layers import BinaryConv2d, BinaryLinear
from mmbnn.ops import native
from mmbnn.ops.bits import pack_bit_words, unpack_bit_words
from mmbnn.ops.xnor_conv import PackedWeight, pack_activations, xnor_conv2d

PATHS = list(native.ISAS) + ['reference']
R18 = os.path.join(ROOT, 'configs', 'imagenet',
                   'bnn_resnet18-bireal_8xb32_in1k.py')
DEMO_BNN = os.path.join(ROOT, 'configs', 'demo',
                        'bnn_ssd192_vgg16-w0.25_synthvoc.py')


def _force(monkeypatch, isa):
    if isa not in native.available_isas():
        pytest.skip(f'this machine cannot run the {isa} path')
    monkeypatch.setenv('MMBNN_ISA', isa)
    assert native.select_isa() == isa


def _signs(t):
    return torch.where(t >= 0, 1.0, -1.0)


def _packed(w):
    return PackedWeight(
        pack_bit_words((w >= 0).permute(0, 2, 3, 1)), w.shape[1], 1)


# Odd and word-straddling channel counts, kernel, stride, padding, dilation,
# groups; output channels not a multiple of the 8-channel block.
GRID = [(cin, cout, k, s, p, d, g)
        for cin, cout, k, s, p, d, g in itertools.product(
            (1, 3, 64, 65, 130), (5, 16), (1, 3), (1, 2), (0, 1, 2), (1, 2),
            (1, 5))
        if cin % g == 0 and cout % g == 0 and not (k == 1 and d == 2)]


@pytest.mark.parametrize('isa', PATHS)
def test_packed_conv_equals_conv2d_of_signs_on_every_path(monkeypatch, isa):
    _force(monkeypatch, isa)
    gen = torch.Generator().manual_seed(0)
    for i, (cin, cout, k, s, p, d, g) in enumerate(GRID):
        x = torch.randn(2, cin, 9, 7, generator=gen)
        x[0, :, 0, 0] = 0.0  # sign(0) = +1
        if i % 2:
            x = x.contiguous(memory_format=torch.channels_last)
        w = torch.randn(cout, cin // g, k, k, generator=gen)
        bits = pack_bit_words((w >= 0).permute(0, 2, 3, 1))
        weight = PackedWeight(bits, cin, g)
        y, _ = xnor_conv2d(x, weight, (s, s), (p, p), (d, d))
        expected = F.conv2d(_signs(x), _signs(w), None, s, p, d, g)
        assert torch.equal(y, expected), (cin, cout, k, s, p, d, g)


@pytest.mark.parametrize('isa', PATHS)
def test_fused_output_transform_on_every_path(monkeypatch, isa):
    """alpha * dot + beta + residual, Hardtanh, and the next layer's sign
    bits, rounded as PyTorch's separate ops round them."""
    _force(monkeypatch, isa)
    gen = torch.Generator().manual_seed(1)
    for cin, cout in ((64, 64), (70, 130)):
        x = torch.randn(1, cin, 6, 5, generator=gen)
        w = torch.randn(cout, cin, 3, 3, generator=gen)
        alpha = torch.rand(cout, generator=gen) * 0.1
        beta = torch.randn(cout, generator=gen)
        res = torch.randn(1, cout, 6, 5, generator=gen)
        y, bits = xnor_conv2d(
            x, _packed(w), (1, 1), (1, 1), (1, 1), alpha, beta, res, clip=True,
            want_bits=True)
        dot = F.conv2d(_signs(x), _signs(w), None, 1, 1)
        expected = (alpha.view(1, -1, 1, 1) * dot + beta.view(1, -1, 1, 1) +
                    res).clamp(-1, 1)
        assert torch.equal(y, expected)
        unpacked = unpack_bit_words(bits, cout).permute(0, 3, 1, 2)
        assert torch.equal(unpacked, expected >= 0)
        assert bits.shape == (1, 6, 5, (cout + 63) // 64)


@pytest.mark.parametrize('isa', PATHS)
def test_threads_split_rows_and_channel_ranges_alike(monkeypatch, isa):
    """A small map with many channels is split across threads by ranges of
    64 output channels; every thread count gives the one-thread result."""
    _force(monkeypatch, isa)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 70, 3, 4, generator=gen)
    w = torch.randn(200, 70, 3, 3, generator=gen)
    alpha, beta = torch.rand(200, generator=gen), torch.randn(200, generator=gen)
    runs = [xnor_conv2d(x, _packed(w), (1, 1), (1, 1), (1, 1), alpha,
                                beta, want_bits=True, threads=threads)
            for threads in (1, 2, 3, 8)]
    dot = F.conv2d(_signs(x), _signs(w), None, 1, 1)
    expected = alpha.view(1, -1, 1, 1) * dot + beta.view(1, -1, 1, 1)
    for y, bits in runs:
        assert torch.equal(y, expected)
        assert torch.equal(unpack_bit_words(bits, 200).permute(0, 3, 1, 2),
                           expected >= 0)


def test_zero_padding_adds_nothing_by_hand(monkeypatch):
    """All +1 input and weights, 3x3, padding 1: a corner sees 4 taps, an
    edge 6, the inside 9 (a padded zero is neither +1 nor -1)."""
    for isa in native.available_isas():
        monkeypatch.setenv('MMBNN_ISA', isa)
        y, _ = xnor_conv2d(torch.ones(1, 3, 4, 4),
                                   _packed(torch.ones(2, 3, 3, 3)), (1, 1),
                                   (1, 1))
        per_channel = torch.tensor([[4., 6, 6, 4], [6, 9, 9, 6],
                                    [6, 9, 9, 6], [4, 6, 6, 4]]) * 3
        assert torch.equal(y[0, 0], per_channel), isa
        assert torch.equal(y[0, 1], per_channel), isa


def test_conv_arguments_that_do_not_fit_are_refused():
    weight = _packed(torch.ones(8, 70, 3, 3))
    x = torch.ones(1, 70, 5, 5)
    with pytest.raises(ValueError, match='input has 69 channels, the layer '
                       'takes 70'):
        xnor_conv2d(x[:, :69], weight)
    with pytest.raises(ValueError, match='smaller than the 3x3 kernel'):
        xnor_conv2d(x[:, :, :2, :2], weight)
    with pytest.raises(ValueError, match=r'residual must be float32 '
                       r'\(1, 8, 3, 3\)'):
        xnor_conv2d(x, weight, residual=torch.zeros(1, 8, 5, 5))
    with pytest.raises(ValueError, match=r'packed input must be contiguous '
                       r'int64 \(1, 5, 5, 2\)'):
        xnor_conv2d(x, weight, packed=torch.zeros(1, 5, 5, 1,
                                                          dtype=torch.int64))
    with pytest.raises(ValueError, match='do not split into 3 groups'):
        PackedWeight(weight.bits, 70, 3)


def test_bit_layout_by_hand():
    bits = torch.zeros(2, 65, dtype=torch.bool)
    bits[0, [0, 2]] = True        # word 0 = 0b101
    bits[1, 64] = True            # second word, bit 0
    bits[1, 63] = True            # the top bit of the first word
    words = pack_bit_words(bits)
    assert words.shape == (2, 2)
    assert words[0].tolist() == [5, 0]
    assert words[1].tolist() == [-(1 << 63), 1]
    assert torch.equal(unpack_bit_words(words, 65), bits)
    # Activations: a group's channels start a new word.
    x = torch.full((1, 4, 1, 1), -1.0)
    x[0, 1] = x[0, 2] = 0.5
    for isa in native.available_isas():
        packed = pack_activations(x, groups=2, isa=isa)
        assert packed.flatten().tolist() == [0b10, 0b01], isa


def test_instruction_set_choice_and_errors(monkeypatch):
    monkeypatch.delenv('MMBNN_ISA', raising=False)
    assert native.select_isa() == native.available_isas()[0]
    monkeypatch.setenv('MMBNN_ISA', 'sse9')
    with pytest.raises(ValueError, match=r"unknown instruction set 'sse9'"):
        native.select_isa()
    missing = [isa for isa in native.ISAS
               if isa not in native.available_isas()]
    if missing and native.library() is not None:
        monkeypatch.setenv('MMBNN_ISA', missing[0])
        with pytest.raises(RuntimeError, match='this CPU does not support it'):
            native.select_isa()


def _clear_kernel_caches():
    for cached in (native.library, native._native_isas, native._select):
        cached.cache_clear()


def test_no_compiler_means_the_reference_path_with_a_warning(monkeypatch):
    import torch.utils.cpp_extension as ext

    def no_compiler(*args, **kwargs):
        raise RuntimeError('no C++ compiler')

    monkeypatch.setattr(ext, 'load', no_compiler)
    monkeypatch.delenv('MMBNN_ISA', raising=False)
    _clear_kernel_caches()
    try:
        with pytest.warns(UserWarning, match='could not be built.*no C.. '
                          'compiler.*reference path'):
            assert native.available_isas() == ['reference']
        assert native.select_isa() == 'reference'
        with pytest.raises(RuntimeError, match='native library is not built'):
            native.select_isa('avx2')
        y, _ = xnor_conv2d(torch.ones(1, 3, 4, 4),
                                   _packed(torch.ones(2, 3, 3, 3)), (1, 1),
                                   (1, 1))
        assert y[0, 0, 0, 0] == 12
    finally:
        monkeypatch.undo()
        _clear_kernel_caches()


def _randomize_norms(model, seed=0):
    """Trained-looking BN statistics, so that folding them is not a no-op."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(c, generator=gen) * 0.3)
    return model


def test_layers_match_their_pytorch_twins():
    torch.manual_seed(0)
    x = torch.randn(3, 70, 8, 8)
    for binarizer, bias in itertools.product(('imb', 'sign', 'xnor'),
                                             (False, True)):
        conv = BinaryConv2d(70, 20, 3, 2, 1, bias=bias,
                            weight_binarizer=binarizer).eval()
        twin = XnorConv2d.from_binary(conv)
        with torch.no_grad():
            ref, out = conv(x), twin(x)
        if binarizer == 'xnor' or bias:
            # PyTorch sums float-scaled terms, or starts its sum at the bias.
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        else:  # a power of two times an integer: exact
            assert torch.equal(out, ref), binarizer
    lin = BinaryLinear(100, 7).eval()
    with torch.no_grad():
        assert torch.equal(XnorLinear.from_binary(lin)(x.flatten(1)[:, :100]),
                           lin(x.flatten(1)[:, :100]))


def test_layers_that_xnor_cannot_run_are_refused():
    with pytest.raises(ValueError, match="binarize='weights'"):
        XnorConv2d.from_binary(BinaryConv2d(4, 4, 3, binarize='weights'))
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        XnorConv2d.from_binary(BinaryConv2d(4, 4, 3, padding=1,
                                            padding_mode='reflect'))
    model = nn.Sequential(BinaryConv2d(4, 4, 3, binarize='activations'))
    to_xnor(model)  # left as a PyTorch layer
    assert isinstance(model[0], BinaryConv2d)


def test_packed_file_round_trip_and_refusals(tmp_path):
    tensors = dict(bits=torch.randint(0, 255, (3, 5), dtype=torch.uint8),
                   exp=torch.tensor([-3, 0, 5], dtype=torch.int8),
                   w=torch.randn(2, 3), h=torch.randn(4).half(),
                   empty=torch.zeros(0, 4))
    path = str(tmp_path / 'm.mmbnn')
    size = write_packed(path, tensors, dict(note='x'))
    assert size == os.path.getsize(path)
    back, meta = read_packed(path)
    assert meta == dict(note='x') and list(back) == list(tensors)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and torch.equal(back[name], t)
    data = open(path, 'rb').read()
    # Tensors are 64-byte aligned and laid out after the header.
    assert all(e % 64 == 0 for e in _offsets(data))

    def refused(blob, match):
        bad = str(tmp_path / 'bad.mmbnn')
        with open(bad, 'wb') as f:
            f.write(blob)
        with pytest.raises(PackedFileError, match=match):
            read_packed(bad)

    refused(data[:-10], r"tensor 'empty'|tensor 'h'.*truncated")
    refused(data[:10], 'shorter than the 20-byte prelude')
    refused(data[:40], 'truncated')
    flipped = bytearray(data)
    flipped[_offsets(data)[2] + 1] ^= 0x10  # a bit of 'w'
    refused(bytes(flipped), "tensor 'w' fails its CRC-32 check")
    header = bytearray(data)
    header[30] ^= 1
    refused(bytes(header), 'header fails its CRC-32')
    refused(data[:8] + struct.pack('<I', FORMAT_VERSION + 1) + data[12:],
            f'format version {FORMAT_VERSION + 1}; this mmbnn reads version '
            f'{FORMAT_VERSION}')
    refused(b'PK\x03\x04' + data[4:], 'not .*MMBNNPK')
    with pytest.raises(TypeError, match='bool cannot be stored'):
        write_packed(path, dict(b=torch.zeros(2, dtype=torch.bool)))


def _offsets(data):
    import json
    length = struct.unpack_from('<I', data, 12)[0]
    return [e['offset'] for e in json.loads(data[20:20 + length])['tensors']]


@pytest.fixture(scope='module')
def resnet_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('r18')
    cfg = load_config(R18)
    torch.manual_seed(0)
    model = _randomize_norms(build_model(cfg)).eval()
    ckpt = str(tmp / 'r18.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=3)), ckpt)
    return cfg, model, ckpt, tmp


def test_exported_classifier_logits_and_size(resnet_export):
    cfg, model, ckpt, tmp = resnet_export
    out = str(tmp / 'r18.mmbnn')
    report = export_model(init_model(cfg, ckpt), out, checkpoint=ckpt)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x, mode='tensor')
        exact = init_model(cfg, out, fuse=False)(x, mode='tensor')
        fused = init_model(cfg, out, fuse=True)
        fast = fused(x.contiguous(memory_format=torch.channels_last),
                     mode='tensor')
    assert torch.equal(exact, ref)
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-4)
    # 1 bit per binary weight: the 3x3 convs' bits alone, by count.
    binary = sum(m.weight.numel() for m in model.modules()
                 if isinstance(m, BinaryConv2d))
    floats = sum(t.numel() for k, t in model.state_dict().items()
                 if t.is_floating_point()) - binary
    binary_layers = sum(isinstance(m, BinaryConv2d) for m in model.modules())
    assert binary_layers == 16
    tensors, meta = read_packed(out)
    bit_bytes = sum(t.numel() for k, t in tensors.items()
                    if k.endswith('weight_bits'))
    assert bit_bytes == binary // 8
    # The rest: float32 weights less the binary layers' schedule buffers.
    assert report['file_bytes'] < bit_bytes + 4 * floats + 16 * 4096
    assert report['fp32_state_bytes'] == 4 * (floats + binary)
    half = export_model(init_model(cfg, ckpt), str(tmp / 'r18h.mmbnn'),
                        fp16=True, checkpoint=ckpt)
    assert half['size_ratio'] > 15 > report['size_ratio'] > 10
    assert meta['source_checkpoint'] == 'r18.pth' and not meta['fp16']
    assert 'BiRealResNet' in meta['config']


def test_runtime_refuses_a_file_for_another_model(resnet_export, tmp_path):
    cfg, model, ckpt, tmp = resnet_export
    out = str(tmp_path / 'r18.mmbnn')
    export_model(init_model(cfg, ckpt), out, checkpoint=ckpt)
    other = load_config(R18, cfg_options={'model.backbone.depth': 34})
    with pytest.raises(Exception, match='does not fit.*missing keys.*'
                       'backbone.stages.0.2'):
        init_model(other, out)


def test_export_tool(resnet_export, tmp_path):
    cfg, model, ckpt, tmp = resnet_export
    out = str(tmp_path / 'tool.mmbnn')
    result = tool('deploy/export.py', R18, ckpt, out, '--fp16')
    assert 'x smaller' in result.stdout and os.path.isfile(out)
    assert read_packed(out)[1]['fp16'] is True
    bad = tool('deploy/export.py', R18, str(tmp_path / 'nope.pth'), out,
               check=False)
    assert bad.returncode == 1 and 'nope.pth' in bad.stderr
    assert 'Traceback' not in bad.stderr


def _demo_batch(model, num, size=192):
    from mmbnn.datasets.synthetic import draw_scene
    from mmdet.structures import DetDataSample
    rng = np.random.default_rng(7)
    inputs, samples = [], []
    for _ in range(num):
        img, _ = draw_scene(rng, size, size, num_classes=6)
        inputs.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1))
        samples.append(DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size),
            pad_shape=(size, size), scale_factor=(1.0, 1.0))))
    return dict(inputs=inputs, data_samples=samples)


def test_exported_demo_detector_detects_as_the_pytorch_model(tmp_path):
    cfg = load_config(DEMO_BNN)
    torch.manual_seed(0)
    model = _randomize_norms(build_model(cfg), seed=1).eval()
    ckpt = str(tmp_path / 'bnn.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'bnn.mmbnn')
    export_model(init_model(cfg, ckpt), out, checkpoint=ckpt)
    data = _demo_batch(model, 3)
    with torch.no_grad():
        ref = model.test_step(copy.deepcopy(data))
        exact = init_model(cfg, out, fuse=False).test_step(
            copy.deepcopy(data))
        fused = init_model(cfg, out, fuse=True).test_step(
            copy.deepcopy(data))
    for r, e, f in zip(ref, exact, fused):
        r, e, f = r.pred_instances, e.pred_instances, f.pred_instances
        assert len(r) > 0
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(e[key], r[key]), key
        assert torch.equal(f.labels, r.labels)
        torch.testing.assert_close(f.bboxes, r.bboxes, rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(f.scores, r.scores, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('isa', [i for i in PATHS if i != 'reference'])
def test_fused_training_estimators_equal_the_pytorch_ones(monkeypatch, isa):
    """The native sign and tanh backward against mmbnn.ops' PyTorch
    formulas (MMBNN_ISA=reference) on random inputs, including exact zeros,
    saturated elements, a non-contiguous input and a stage-2 cap."""
    from mmbnn.ops import binary_sign, dte_sign, ede_sign
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 37, 11, generator=gen) * 3
    x[0, 0, :4] = torch.tensor([0.0, -0.0, 30.0, -30.0])
    grad = torch.randn(6, 37, 11, generator=gen)
    cases = [(ede_sign, dict(k=1.0, t=1.0)), (ede_sign, dict(k=10.0, t=0.1)),
             (dte_sign, dict(k=1.0, t=10.0, t_cap=torch.tensor(2.5))),
             (dte_sign, dict(k=torch.tensor(0.5), t=torch.tensor(3.3)))]

    def run(fn, kwargs, inp):
        leaf = inp.clone().requires_grad_()
        out = fn(leaf.transpose(1, 2), **kwargs)  # not contiguous
        out.backward(grad.transpose(1, 2))
        return out, leaf.grad

    for fn, kwargs in cases:
        _force(monkeypatch, isa)
        out, g = run(fn, kwargs, x)
        monkeypatch.setenv('MMBNN_ISA', 'reference')
        ref_out, ref_g = run(fn, kwargs, x)
        assert torch.equal(out, ref_out)
        # float32 rounding of the same function: ~1e-7 of its peak k t
        kt = float(torch.as_tensor(kwargs['k'])) * min(
            float(torch.as_tensor(kwargs['t'])),
            float(kwargs.get('t_cap', float('inf'))))
        torch.testing.assert_close(g, ref_g, rtol=1e-5, atol=4e-6 * kt)
    _force(monkeypatch, isa)
    assert torch.equal(binary_sign(x), torch.where(x >= 0, 1.0, -1.0))
    # What the native path does not take stays PyTorch's: float64 exactly.
    xd = x.double().requires_grad_()
    ede_sign(xd, 2.0, 3.0).backward(grad.double())
    expected = 2.0 * 3.0 * (1 - torch.tanh(3.0 * x.double()) ** 2) * grad
    torch.testing.assert_close(xd.grad, expected, rtol=1e-12, atol=1e-12)


def test_test_tool_evaluates_an_exported_detector(tmp_path, voc_root):
    """tools/test.py takes a .mmbnn file: the exported demo BNN's detections
    and mAP on the generated VOC test set are the PyTorch checkpoint's."""
    import pickle
    from conftest import QUICK_LOADERS
    cfg = load_config(DEMO_BNN)
    torch.manual_seed(0)
    model = _randomize_norms(build_model(cfg), seed=2).eval()
    ckpt, packed = str(tmp_path / 'bnn.pth'), str(tmp_path / 'bnn.mmbnn')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    export_model(init_model(cfg, ckpt), packed, checkpoint=ckpt)
    runs = {}
    for name in (ckpt, packed):
        out = str(tmp_path / (os.path.basename(name) + '.pkl'))
        result = tool('test.py', DEMO_BNN, name, '--work-dir', str(tmp_path),
                      '--data-root', os.path.join(voc_root, 'VOCdevkit', ''),
                      '--out', out, '--cfg-options', *QUICK_LOADERS)
        assert 'pascal_voc/mAP' in result.stdout
        with open(out, 'rb') as f:
            runs[name] = [p['pred_instances'] for p in pickle.load(f)]
    assert len(runs[ckpt]) == len(runs[packed]) > 0
    for ref, got in zip(runs[ckpt], runs[packed]):
        assert torch.equal(got['labels'], ref['labels'])
        torch.testing.assert_close(got['bboxes'], ref['bboxes'], rtol=1e-4,
                                   atol=1e-3)
        torch.testing.assert_close(got['scores'], ref['scores'], rtol=1e-4,
                                   atol=1e-5)
    bad = tool('test.py', DEMO_BNN, ckpt, '--exact', check=False)
    assert bad.returncode == 2 and '--exact applies to .mmbnn' in bad.stderr


def _bireal(**kwargs):
    from mmbnn.models.backbones import BiRealResNet
    torch.manual_seed(0)
    return _randomize_norms(BiRealResNet(depth=18, base_channels=16,
                                         **kwargs), seed=5).eval()


def test_fused_blocks_run_bn_residual_and_packing_in_the_kernel(monkeypatch):
    """With fuse=True the BNs after binary convs are never called (folded),
    every binary conv but the first reads the sign bits its predecessor
    wrote, and the result is the exact runtime's within float rounding."""
    from mmbnn.deploy import fuse_xnor_blocks
    model = _bireal()
    exact = to_xnor(copy.deepcopy(model), fuse=False)
    fused = to_xnor(copy.deepcopy(model), fuse=False)
    assert fuse_xnor_blocks(fused) == 16
    calls = []
    for name, m in fused.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    packed_given = []
    real = xnor_conv2d

    def spy(*args, **kwargs):
        packed_given.append(kwargs.get('packed', args[9] if len(args) > 9
                                       else None) is not None)
        return real(*args, **kwargs)

    import mmbnn.deploy.xnor_layers as xnor_layers
    monkeypatch.setattr(xnor_layers, 'xnor_conv2d', spy)
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        out = fused(x)
        fused_calls = list(packed_given)
        ref = exact(x)
    # Only the stem's and the real shortcuts' BNs ran.
    assert sorted(calls) == ['stages.1.0.0.shortcut.2', 'stages.2.0.0.shortcut.2',
                             'stages.3.0.0.shortcut.2', 'stem.1']
    assert fused_calls == [False] + [True] * 15
    assert packed_given[16:] == [False] * 16  # alone, each layer packs
    for a, b in zip(out, ref):
        assert a.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


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


def test_runtime_follows_weights_and_norms_changed_in_place():
    """Cached packed weights and folded BN follow in-place changes (a state
    dict load writes in place)."""
    conv = BinaryConv2d(20, 12, 3, padding=1, bias=False).eval()
    twin = XnorConv2d.from_binary(conv)
    bn = _randomize_norms(nn.Sequential(nn.BatchNorm2d(12))).eval()[0]
    x = torch.randn(1, 20, 6, 6, generator=torch.Generator().manual_seed(8))
    flipped = XnorConv2d.from_binary(BinaryConv2d(20, 12, 3, padding=1,
                                                  bias=False))
    with torch.no_grad():
        flipped.set_weight(-conv.weight, 'imb')  # every weight's sign flips
        plain = twin(x)
        folded = twin(x, norm=bn)
        original = twin.weight_bits.clone()
        twin.weight_bits.copy_(flipped.weight_bits)
        assert torch.equal(twin(x), -plain)
        twin.weight_bits.copy_(original)
        bn.running_mean.add_(1.0)
        expected = bn(plain)
        moved = twin(x, norm=bn)
        twin.scale_exp.add_(1)  # scales double
        assert torch.equal(twin(x), 2 * plain)
    torch.testing.assert_close(moved, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(moved, folded)


def test_xnor_linear_on_batched_sequences():
    lin = BinaryLinear(70, 9, weight_binarizer='xnor').eval()
    x = torch.randn(2, 3, 70, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        out = XnorLinear.from_binary(lin)(x)
        ref = lin(x)
    assert out.shape == (2, 3, 9)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('act', [None, 'Hardtanh', 'ReLU'])
def test_fused_conv_modules_of_the_ssd_vgg(act):
    """mmcv ConvModules (and the shortcut ones) with a binary conv: BN folded
    (never called), the residual and Hardtanh in the kernel, another
    activation after it; equal to the exact runtime within float rounding."""
    from mmbnn.models.backbones import SSDVGGBN
    torch.manual_seed(0)
    model = _randomize_norms(SSDVGGBN(
        widen_factor=0.25, conv_cfg=dict(type='BinaryConv2d'),
        act_cfg=None if act is None else dict(type=act), shortcuts=True),
        seed=3).eval()
    exact = to_xnor(copy.deepcopy(model), fuse=False)
    fused = to_xnor(copy.deepcopy(model), fuse=True)
    calls = []
    for name, m in fused.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    x = torch.randn(1, 3, 48, 40, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        out, ref = fused(x), exact(x)
    assert calls == ['layers.conv1_1.bn']  # the real first conv's
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('isa', PATHS)
def test_pack_activations_of_any_layout_and_dtype(monkeypatch, isa):
    """The packed sign bits of [N, C, H, W] inputs, NCHW or channels-last,
    in float32 (the library) or other dtypes (PyTorch), per group, against
    pack_bits of the signs taken by hand."""
    _force(monkeypatch, isa)
    x = torch.randn(2, 70, 3, 5, generator=torch.Generator().manual_seed(11))
    x[1, 3, 2, 4] = 0.0
    for groups in (1, 2):
        bits = (x >= 0).permute(0, 2, 3, 1).reshape(2, 3, 5, groups, -1)
        expected = pack_bit_words(bits).reshape(2, 3, 5, -1)
        for t in (x, x.contiguous(memory_format=torch.channels_last),
                  x.double(), x.half()):
            assert torch.equal(pack_activations(t, groups), expected)
