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


def test_experiment_without_test_takes_the_final_validation(tmp_path,
                                                            monkeypatch):
    """test=False: no tools/test.py; the metric is the training's last
    validation (mmengine's log lines), an error where there is none."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from experiments import harness as experiment
    commands, log = [], {'text': ''}

    def fake_stream(cmd, echo, log_file=None):
        commands.append(cmd[1])
        (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'e.pth'))
        return log['text']

    monkeypatch.setattr(experiment, 'stream', fake_stream)
    log['text'] = ('Epoch(val) [4][19/19]    pascal_voc/mAP: 0.1250  x\n'
                   'Epoch(val) [8][19/19]    pascal_voc/mAP: 0.2500  '
                   'pascal_voc/AP50: 0.3\n')
    result = experiment.train_and_test('cfg.py', str(tmp_path), 'data',
                                       test=False)
    assert result['metric'] == 0.25 and result['history'] == [0.125, 0.25]
    assert result['test_s'] == 0.0
    assert [osp.basename(c) for c in commands] == ['train.py']
    log['text'] = 'trained, never validated\n'
    with pytest.raises(RuntimeError, match="printed no 'pascal_voc/mAP' "
                       "validation for cfg.py"):
        experiment.train_and_test('cfg.py', str(tmp_path), 'data', test=False)
    with pytest.raises(ValueError, match='drawing'):
        experiment.train_and_test('cfg.py', str(tmp_path), 'data',
                                  show_dir='d', test=False)
