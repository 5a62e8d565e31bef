"""tools/experiments/harness.py: a run without its metric is an error."""
import os.path as osp
import sys

import pytest

from conftest import ROOT


def test_experiment_without_its_metric_is_an_error_not_nan(tmp_path,
                                                           monkeypatch):
    """train_and_test (the demo's and the benchmarks' driver) names the
    metric tools/test.py did not print instead of returning NaN."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from experiments import harness as experiment
    printed = []

    def fake_stream(cmd, echo, log=None):
        printed.append(cmd)
        if 'train.py' in cmd[1]:
            (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'e.pth'))
            return 'trained\n'
        return 'pascal_voc/AP50: 0.5\ncoco/bbox_mAP: 0.25\n'

    monkeypatch.setattr(experiment, 'stream', fake_stream)
    with pytest.raises(RuntimeError, match="printed no 'pascal_voc/mAP'"):
        experiment.train_and_test('cfg.py', str(tmp_path), 'data')
    assert len(printed) == 2
    result = experiment.train_and_test('cfg.py', str(tmp_path), 'data',
                                       metric='coco/bbox_mAP')
    assert result['metric'] == 0.25
