"""tools/deploy/export.py, and tools/test.py on an exported model."""
import os

import torch

from conftest import ROOT, tool
from mmbnn.apis import init_model, load_config
from mmbnn.deploy import export_model, to_xnor
from mmbnn.deploy.packed_file import read_packed
from mmbnn.models.builder import build_model
from toy import randomize_norms

R18 = os.path.join(ROOT, 'configs', 'imagenet',
                   'bnn_resnet18-bireal_8xb32_in1k.py')
DEMO_BNN = os.path.join(ROOT, 'configs', 'demo',
                        'bnn_ssd192_vgg16-w0.25_synthvoc.py')


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


def test_test_tool_evaluates_an_exported_detector(tmp_path, voc_root):
    """tools/test.py takes a .mmbnn file: the exported demo BNN's detections
    on the generated VOC test set are the PyTorch checkpoint's (bit for bit
    with --exact, within float rounding fused)."""
    import pickle

    from conftest import QUICK_LOADERS
    cfg = load_config(DEMO_BNN)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()  # SSDNeck's L2Norm weight starts uninitialized
    model = randomize_norms(model, seed=2).eval()
    ckpt, packed = str(tmp_path / 'bnn.pth'), str(tmp_path / 'bnn.mmbnn')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    export_model(init_model(cfg, ckpt), packed, checkpoint=ckpt)
    runs = {}
    for name, extra in ((ckpt, []), (packed, ['--exact']), (packed, [])):
        out = str(tmp_path / f'{os.path.basename(name)}{len(extra)}.pkl')
        result = tool('test.py', DEMO_BNN, name, *extra, '--work-dir',
                      str(tmp_path), '--data-root',
                      os.path.join(voc_root, 'VOCdevkit', ''), '--out', out,
                      '--cfg-options', *QUICK_LOADERS)
        assert 'pascal_voc/mAP' in result.stdout
        with open(out, 'rb') as f:
            runs[name, bool(extra)] = [p['pred_instances']
                                       for p in pickle.load(f)]
    ref, exact, fused = (runs[ckpt, False], runs[packed, True],
                         runs[packed, False])
    assert len(ref) == len(exact) == len(fused) > 0
    for r, e, f in zip(ref, exact, fused):
        for key in ('labels', 'bboxes', 'scores'):  # --exact: bit for bit
            assert torch.equal(e[key], r[key]), key
        # Fused: within float rounding; detections whose scores tie may
        # come out in another order, so compare them order-free.
        torch.testing.assert_close(f['scores'].sort().values,
                                   r['scores'].sort().values, rtol=1e-4,
                                   atol=1e-5)
        assert sorted(f['labels'].tolist()) == sorted(r['labels'].tolist())
    bad = tool('test.py', DEMO_BNN, ckpt, '--exact', check=False)
    assert bad.returncode == 2 and '--exact applies to .mmbnn' in bad.stderr
    # --int8: every float conv and linear of the model (the stem, the
    # head's convs) in int8, calibrated on two training batches.
    floats = sum(type(m) in (torch.nn.Conv2d, torch.nn.Linear)
                 for m in to_xnor(init_model(cfg, ckpt)).modules())
    assert floats > 0
    int8 = tool('test.py', DEMO_BNN, packed, '--int8', '2', '--work-dir',
                str(tmp_path), '--data-root',
                os.path.join(voc_root, 'VOCdevkit', ''), '--cfg-options',
                *QUICK_LOADERS)
    assert 'pascal_voc/mAP' in int8.stdout
    assert (f'{floats} full-precision layers in int8, calibrated on 2 '
            'training batches') in int8.stdout + int8.stderr
    bad = tool('test.py', DEMO_BNN, ckpt, '--int8', '2', check=False)
    assert bad.returncode == 2 and 'applies to .mmbnn files only' in bad.stderr
