"""mmbnn/deploy/export.py: exported models give the PyTorch model's outputs
(exact mode) or stay within float rounding (fused)."""
import copy
import os

import numpy as np
import pytest
import torch

from conftest import ROOT
from mmbnn.apis import init_model, load_config
from mmbnn.deploy import export_model
from mmbnn.deploy.packed_file import read_packed
from mmbnn.models.builder import build_model
from mmbnn.models.layers import BinaryConv2d
from toy import randomize_norms

R18 = os.path.join(ROOT, 'configs', 'imagenet',
                   'bnn_resnet18-bireal_8xb32_in1k.py')
DEMO_BNN = os.path.join(ROOT, 'configs', 'demo',
                        'bnn_ssd192_vgg16-w0.25_synthvoc.py')


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
    from mmbnn.version import __version__
    assert meta['mmbnn_version'] == __version__
    assert read_packed(str(tmp / 'r18h.mmbnn'))[1]['fp16'] is True
    # The report's sizes, from the files themselves.
    size = os.path.getsize(out)
    assert report == dict(
        file_bytes=size, fp32_state_bytes=4 * (floats + binary),
        size_ratio=4 * (floats + binary) / size,
        checkpoint_bytes=os.path.getsize(ckpt),
        checkpoint_ratio=os.path.getsize(ckpt) / size)
    # float32 unless fp16 is asked for.
    from mmbnn.deploy.export import export_state
    dtypes = [t.dtype for t in export_state(model).values()
              if t.is_floating_point()]
    assert dtypes and set(dtypes) == {torch.float32}
    # BN's batch counters are training state, not in the file.
    assert not any(k.endswith('num_batches_tracked') for k in tensors)
    assert any(k.endswith('num_batches_tracked') for k in model.state_dict())
    # No checkpoint named, no config on the model: neither recorded.
    bare = copy.deepcopy(model)
    bare.__dict__.pop('cfg', None)
    plain = export_model(bare, str(tmp / 'bare.mmbnn'))
    assert sorted(plain) == ['file_bytes', 'fp32_state_bytes', 'size_ratio']
    bare_meta = read_packed(str(tmp / 'bare.mmbnn'))[1]
    assert (bare_meta['source_checkpoint'], bare_meta['config']) == ('', '')
    with pytest.raises(ValueError) as e:
        export_model(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1)),
                     str(tmp / 'fp.mmbnn'))
    assert e.value.args[0] == 'the model has no fully binary layer to pack'


def test_runtime_refuses_a_file_for_another_model(resnet_export, tmp_path):
    cfg, model, ckpt, tmp = resnet_export
    out = str(tmp_path / 'r18.mmbnn')
    export_model(init_model(cfg, ckpt), out, checkpoint=ckpt)
    other = load_config(R18, cfg_options={'model.backbone.depth': 34})
    with pytest.raises(Exception, match='does not fit.*missing keys.*'
                       'backbone.stages.0.2'):
        init_model(other, out)
    # install_packed names the file and what it was fitted to, and leaves
    # the model as it was.
    import re

    from mmbnn.deploy import install_packed
    from mmbnn.utils.checkpoint import CheckpointMismatchError
    target = build_model(other)
    before = [type(m) for m in target.modules()]
    with pytest.raises(CheckpointMismatchError,
                       match=re.escape(f"checkpoint {out!r} does not fit the "
                                       "config's model: ")):
        install_packed(target, out)
    assert [type(m) for m in target.modules()] == before
    # Fused by default: the blocks run BN and the residual in the kernel.
    fused = build_model(cfg)
    install_packed(fused, out)
    assert sum(type(m).__name__ == '_FusedBiRealConv'
               for m in fused.modules()) == 16
    exact = build_model(cfg)
    install_packed(exact, out, fuse=False)
    assert not any(type(m).__name__.startswith('_Fused')
                   for m in exact.modules())


def _demo_batch(model, num, size=192):
    from mmdet.structures import DetDataSample

    from mmbnn.datasets.synthetic import draw_scene
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
    model = build_model(cfg)
    model.init_weights()  # SSDNeck's L2Norm weight starts uninitialized
    model = randomize_norms(model, seed=1).eval()
    ckpt = str(tmp_path / 'bnn.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'bnn.mmbnn')
    export_model(init_model(cfg, ckpt), out, checkpoint=ckpt)
    data = _demo_batch(model, 3)
    exact_model = init_model(cfg, out, fuse=False)
    fused_model = init_model(cfg, out, fuse=True)
    with torch.no_grad():
        ref = model.test_step(copy.deepcopy(data))
        exact = exact_model.test_step(copy.deepcopy(data))
        # Fused: the head's raw outputs within float rounding. (Its
        # detections are not compared: an untrained head's scores tie, and
        # a rounding-level difference reorders tied detections.)
        inputs = model.data_preprocessor(copy.deepcopy(data))['inputs']
        raw_ref = model(inputs, mode='tensor')
        raw_fused = fused_model(inputs, mode='tensor')
    for r, e in zip(ref, exact):
        r, e = r.pred_instances, e.pred_instances
        assert len(r) > 0
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(e[key], r[key]), key
    # Rounding is relative to the map's scale, not to each element: the
    # Bi-Real shortcuts sum real values through the whole VGG (no activation
    # between), so the maps reach ~1e3 and an element near zero carries the
    # rounding of the large terms summed into it.
    for part_ref, part_fused in zip(raw_ref, raw_fused):  # scores, boxes
        for a, b in zip(part_ref, part_fused):  # per level
            scale = a.abs().max().item()
            assert scale > 0
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5 * scale)
