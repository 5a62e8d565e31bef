"""tools/experiments/recipe_benchmark.py: the plan's hand-offs, the parallel
runner's order and failures, the claims' verdicts (no training: a fake
runner stands in for train_and_test)."""
import os.path as osp
import sys
import threading
import time

import pytest

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools'))
from experiments import recipe_benchmark as bench  # noqa: E402


def fake_runner(calls, delay=0.0, fail=()):
    """A train_and_test stand-in: appends each call to ``calls`` (work dir's
    last part first), fails for the work dirs in ``fail``, returns a metric
    and a checkpoint under the work dir; ``runner.peak``: the most calls
    running at once."""
    active, peak = [0], [0]
    lock = threading.Lock()

    def runner(config, work_dir, data_root, options, echo, metric, log,
               test):
        assert test is False  # the metric: the training's last validation
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        calls.append((osp.basename(work_dir), config, data_root, options,
                      metric, log))
        time.sleep(delay)
        with lock:
            active[0] -= 1
        if osp.basename(work_dir) in fail:
            raise RuntimeError(f'command failed: {work_dir}\ntail')
        return dict(metric=len(work_dir) / 100, history=[0.1, 0.2],
                    train_s=1.0, checkpoint=f'{work_dir}/last.pth')

    runner.peak = peak
    return runner


def test_plan_hands_each_run_what_it_needs_and_runs_two_at_a_time():
    """16 runs (2 VGG classifiers, the FP SSD, 10 BNN SSDs, the FP ResNet-18
    classifier and the Faster R-CNN pair); every BNN SSD starts its
    backbone from the binary classifier, neck and head (and RBD's teacher)
    from the FP SSD, which starts from the FP classifier; RBD off is weight
    0; the binarizer and estimator of each recipe reach backbone and neck;
    the FP Faster R-CNN's backbone starts from the ResNet-18 classifier, the
    BNN Faster R-CNN loads its FP twin; no run starts before what it
    needs has finished, and never more than ``jobs`` at once; the Faster
    R-CNN chain is not left to run alone at the end; IMB + DTE's long run
    has the FP SSD's epochs and starts before the short BNN SSDs."""
    runs = bench.plan(fp_epochs=24, bnn_epochs=10, frcnn_epochs=12)
    assert len(runs) == 16
    log = []
    runner = fake_runner(log, delay=0.02)
    roots = dict(imagenet='I/', voc='V/', coco='C/')
    results = bench.run_all(runs, 'wd', roots, jobs=2, runner=runner)
    assert runner.peak[0] == 2
    assert set(results) == {run.name for run in runs}
    calls = {entry[0]: entry for entry in log}
    order = [entry[0] for entry in log]
    for run in runs:
        for need in run.needs:
            assert order.index(bench.slug(need)) < order.index(
                bench.slug(run.name))
    # The Faster R-CNN chain's last run starts before the last BNN SSD.
    assert order.index('bnn_faster_r_cnn__imb___dte') < order.index(
        'imb___dte___rbd__adam_two_step')
    fp_ssd = calls['fp_ssd']
    assert fp_ssd[2] == 'V/' and fp_ssd[4] == 'pascal_voc/mAP'
    assert 'model.backbone.init_cfg.checkpoint=wd/fp_classifier/last.pth' \
        in fp_ssd[3]
    assert 'train_cfg.max_epochs=24' in fp_ssd[3]
    assert 'train_cfg.val_interval=4' in fp_ssd[3]  # 6 validations
    assert fp_ssd[5] == osp.join(ROOT, 'wd', 'fp_ssd.log')
    sign_ste = calls['sign___ste'][3]
    assert 'model.backbone.init_cfg.checkpoint=wd/binary_classifier/last.pth' \
        in sign_ste
    assert 'custom_hooks.3.teacher_checkpoint=wd/fp_ssd/last.pth' in sign_ste
    assert 'custom_hooks.3.loss_weight=0.0' in sign_ste
    assert 'custom_hooks.3.loss_weight=1.0' in calls['sign___ste___rbd'][3]
    for part in ('backbone', 'neck'):
        assert f'model.{part}.conv_cfg.weight_binarizer=sign' in sign_ste
        assert f'model.{part}.conv_cfg.weight_estimator=ste' in sign_ste
        assert f'model.{part}.conv_cfg.activation_estimator=ste' in sign_ste
        assert f'model.{part}.conv_cfg.weight_binarizer=imb' in \
            calls['imb___dte'][3]
    long = calls[bench.slug(bench.LONG)][3]
    assert 'train_cfg.max_epochs=24' in long and \
        'train_cfg.val_interval=6' in long
    assert 'custom_hooks.3.loss_weight=0.0' in long
    assert 'model.backbone.conv_cfg.weight_binarizer=imb' in long
    assert 'model.neck.conv_cfg.weight_estimator=dte' in long
    assert order.index(bench.slug(bench.LONG)) < order.index('sign___ste')
    assert 'train_cfg.max_epochs=10' in sign_ste
    two_step = calls['imb___dte___rbd__adam_two_step']
    assert two_step[1] == bench.TWO_STEP
    assert two_step[3][:2] == ['train_steps.0.max_epochs=5',
                               'train_steps.1.max_epochs=5']
    fp_frcnn = calls['fp_faster_r_cnn']
    assert fp_frcnn[2] == 'C/' and fp_frcnn[1] == bench.FRCNN_FP
    assert 'train_cfg.val_interval=6' in fp_frcnn[3]  # validated twice
    assert fp_frcnn[3][-1] == ('model.backbone.init_cfg.checkpoint='
                               'wd/fp_resnet_18_classifier/last.pth')
    assert calls['fp_resnet_18_classifier'][2] == 'I/'
    assert 'train_cfg.max_epochs=8' in calls['fp_resnet_18_classifier'][3]
    assert calls['bnn_faster_r_cnn__imb___dte'][3][-1] == \
        'load_from=wd/fp_faster_r_cnn/last.pth'
    assert calls['bnn_faster_r_cnn__imb___dte'][4] == 'coco/bbox_mAP'
    assert len(bench.plan(24, 10, 12, frcnn=False)) == 13
    assert len(bench.plan(24, 10, 12, long_epochs=0)) == 15
    assert bench.two_step_length(7) == ['train_steps.0.max_epochs=3',
                                        'train_steps.1.max_epochs=4']


def test_a_failed_run_skips_what_needs_it_and_the_rest_goes_on():
    """The FP SSD fails: none of the 10 BNN SSDs starts, the classifiers and
    the Faster R-CNN chain finish, and the error names the failed run and
    the 10 skipped ones, with the finished runs' results beside it."""
    calls = []
    runs = bench.plan(24, 10, 12)
    with pytest.raises(RuntimeError) as e:
        bench.run_all(runs, 'wd', dict(imagenet='I', voc='V', coco='C'), 2,
                      runner=fake_runner(calls, fail={'fp_ssd'}))
    message, results = e.value.args
    assert message.startswith('11 of 16 runs failed or did not run:\n')
    assert 'FP SSD: command failed: wd/fp_ssd' in message
    assert message.count('not run: needs a failed run') == 10
    assert set(results) == {'FP classifier', 'binary classifier',
                            'FP ResNet-18 classifier', 'FP Faster R-CNN', 'BNN Faster R-CNN (IMB + DTE)'}
    assert {entry[0] for entry in calls} == {bench.slug(n) for n in results
                                             } | {'fp_ssd'}
    with pytest.raises(ValueError, match="'x' needs \\['nowhere'\\]"):
        bench.run_all([bench.Run('x', 'c', 'voc', 'm', ('nowhere', ))], 'wd',
                      {}, 1, runner=fake_runner([]))


def test_claims_say_whether_each_reproduces_in_every_pair():
    """IMB beats sign in 3 of its 4 pairs, DTE in none, RBD in all four,
    two-step loses: 'mixed (3 of 4)', 'no', 'yes', 'no'; a claim whose runs
    are missing is left out."""
    m = {'sign + STE': 0.10, 'IMB + STE': 0.12, 'sign + DTE': 0.09,
         'IMB + DTE': 0.11, 'sign + STE + RBD': 0.20, 'IMB + STE + RBD': 0.19,
         'sign + DTE + RBD': 0.15, 'IMB + DTE + RBD': 0.16,
         'IMB + DTE + RBD, Adam two-step': 0.155}
    rows = bench.claims(m)
    assert [(r[0], r[2]) for r in rows] == [
        ('IMB > sign (DIR-Net)', 'mixed (3 of 4)'),
        ('DTE > STE (DIR-Net)', 'no'),
        ('RBD helps (DIR-Net)', 'yes'),
        ('Adam two-step > one-step (AdamBNN)', 'no')]
    assert rows[0][1].startswith('IMB + STE 0.1200 vs sign + STE 0.1000; ')
    del m['IMB + DTE + RBD, Adam two-step']
    assert len(bench.claims(m)) == 3
    assert bench.verdict([(1, 0)]) == 'yes'
    assert bench.verdict([(0, 1), (1, 1)]) == 'no'  # a tie is no win
