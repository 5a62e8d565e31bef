"""mmbnn/utils/compat.py: each fix of the pinned stack, with and without it."""
import pickle

import numpy as np
import pytest
import torch


def _runner_like_checkpoint(path):
    """What mmengine's Runner writes: message hub with HistoryBuffers, numpy
    scalars and arrays in meta, plus a model state dict."""
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(np.float64(0.5))
    buf.update(1.25)
    ckpt = dict(
        meta=dict(epoch=3, iter=12, seed=np.int64(7), lr=np.float32(1e-3),
                  hist=np.arange(4.0), dataset_meta=dict(classes=('a', 'b'))),
        state_dict={'w': torch.ones(2, 3)},
        message_hub=dict(log_scalars={'train/loss': buf},
                         runtime_info={'iter': 12}))
    torch.save(ckpt, path)
    return ckpt


def test_plain_torch_load_fails_on_runner_checkpoint(tmp_path):
    """The breakage itself: torch >= 2.6 refuses numpy/HistoryBuffer globals
    when nothing is allowlisted (checked in a fresh interpreter)."""
    path = tmp_path / 'epoch_3.pth'
    _runner_like_checkpoint(path)
    import subprocess
    import sys
    code = ('import torch, sys\n'
            'try:\n'
            f'    torch.load({str(path)!r})\n'
            'except Exception as e:\n'
            '    print(type(e).__name__, e); sys.exit(3)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True)
    assert out.returncode == 3, out.stdout + out.stderr
    assert 'weights_only' in out.stdout


def test_runner_checkpoint_loads_through_mmengine(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    path = tmp_path / 'epoch_3.pth'
    ckpt = _runner_like_checkpoint(path)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert loaded['meta']['seed'] == 7 and loaded['meta']['epoch'] == 3
    np.testing.assert_array_equal(loaded['meta']['hist'], ckpt['meta']['hist'])
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert buf.mean() == pytest.approx(0.875)
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2, 3))


def test_missing_checkpoint_is_named(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        _load_checkpoint(str(tmp_path / 'nothere.pth'))


def _tiny_ssd():
    from mmdet.registry import MODELS
    from mmengine.config import Config

    from conftest import DEMO_CONFIG
    cfg = Config.fromfile(DEMO_CONFIG)
    model = MODELS.build(cfg.model)
    model.eval()
    return model


def _predict(model):
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(img_shape=(192, 192),
                                         ori_shape=(192, 192),
                                         scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        return model.predict(torch.rand(1, 3, 192, 192), [sample])


def test_ssd_head_predicts_with_fix():
    model = _tiny_ssd()
    result = _predict(model)[0].pred_instances
    assert result.bboxes.shape[1] == 4
    assert len(result.scores) == len(result.labels) <= 200
    assert model.bbox_head.loss_cls is None


def test_ssd_head_predict_fails_without_fix(monkeypatch):
    from mmdet.models.dense_heads import SSDHead
    monkeypatch.delattr(SSDHead, 'loss_cls')
    model = _tiny_ssd()
    with pytest.raises(AttributeError, match='loss_cls'):
        _predict(model)


def test_ssd_fix_keeps_a_registered_loss_module():
    from mmdet.models.dense_heads import SSDHead
    model = _tiny_ssd()
    head = model.bbox_head
    assert isinstance(head, SSDHead)
    head.loss_cls = torch.nn.Identity()
    assert isinstance(head.loss_cls, torch.nn.Identity)


class _ReachesThroughGetattr:
    """Uses the allowlisted getattr name to walk from HistoryBuffer to code."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': _ReachesThroughGetattr()}, path)
    with pytest.raises(pickle.UnpicklingError, match='__init__'):
        _load_checkpoint(str(path), map_location='cpu')
