"""Two-step training through tools/train.py (AdamBNN's recipe): both steps
in one command, resumed anywhere as if never stopped."""
import os.path as osp
import re
import sys

import pytest
import torch

from conftest import ROOT, imagenet_data_options, run, tool

TWO_STEP = osp.join(ROOT, 'configs', 'demo',
                    'bnn_vgg16-w0.25_adam-two-step_synthimagenet.py')
HARNESS = osp.join(ROOT, 'tests', 'kill_harness.py')
THREADS = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def _two_step_args(work, imagenet_root, *extra, step2_options=()):
    # Step 1: one epoch; step 2: two epochs; a checkpoint every epoch.
    options = [*imagenet_data_options(imagenet_root),
               'train_steps.0.max_epochs=1', 'train_steps.1.max_epochs=2',
               'default_hooks.checkpoint.interval=1',
               'default_hooks.logger.interval=1',
               'train_dataloader.batch_size=8', *step2_options]
    return [TWO_STEP, '--work-dir', work, *extra, '--cfg-options', *options]


def _weights(path):
    from mmbnn.utils.checkpoint import read_checkpoint
    return read_checkpoint(path, map_location='cpu')['state_dict']


def _final(work):
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, imagenet_root):
    work = str(tmp_path_factory.mktemp('two_step'))
    result = tool('train.py', *_two_step_args(work, imagenet_root), env=THREADS)
    return work, result.stdout + result.stderr


def test_two_steps_run_in_one_command(uninterrupted):
    work, out = uninterrupted
    assert re.search(r"BinarizeModeHook: 14 binary layer\(s\) binarize "
                     r"'activations'", out)
    assert re.search(r"BinarizeModeHook: 14 binary layer\(s\) binarize 'both'",
                     out)
    step1 = osp.join(work, 'step1_activations', 'epoch_1.pth')
    assert _final(work) == osp.join(work, 'step2_both', 'epoch_2.pth')
    # Step 2 starts from step 1's last weights, with a fresh optimizer and
    # schedule: each step's first learning rate is the configured 2e-3.
    assert f'Load checkpoint from {step1}' in out
    firsts = re.findall(r'Epoch\(train\) \[1\]\[1/\d+\].*? lr: (\S+)', out)
    assert [float(lr) for lr in firsts] == [2e-3, 2e-3]


def test_step_two_starts_from_step_one_weights(tmp_path, imagenet_root,
                                               uninterrupted):
    """With a zero learning rate step 2 cannot move the weights: its latent
    weights must then be step 1's."""
    work, _ = uninterrupted
    step1 = osp.join(work, 'step1_activations', 'epoch_1.pth')
    alone = str(tmp_path / 'alone')
    tool('train.py', *_two_step_args(
        alone, imagenet_root, '--train-step', '2',
        step2_options=[f'load_from={step1}',
                       'train_steps.1.cfg_options.optim_wrapper.optimizer.lr=0']),
        env=THREADS)
    start, end = _weights(step1), _weights(_final(alone))
    convs = [k for k in start if k.endswith('conv.weight')]
    assert len(convs) == 15  # 14 binary + the real first conv
    assert all(torch.equal(start[k], end[k]) for k in convs)


def test_step_two_alone_needs_step_one(tmp_path, imagenet_root):
    result = tool('train.py', *_two_step_args(str(tmp_path), imagenet_root,
                                              '--train-step', '2'),
                  check=False)
    assert result.returncode == 1
    assert "step 2 starts from step 1's final checkpoint" in result.stderr


def _assert_same_final(work_a, work_b):
    a, b = _weights(_final(work_a)), _weights(_final(work_b))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{len(different)} tensors differ: {different[:3]}'


def test_resume_at_the_step_boundary_equals_uninterrupted(tmp_path,
                                                          imagenet_root,
                                                          uninterrupted):
    work = str(tmp_path)
    tool('train.py', *_two_step_args(work, imagenet_root, '--train-step', '1'),
         env=THREADS)
    assert not osp.exists(osp.join(work, 'step2_both'))
    result = tool('train.py', *_two_step_args(work, imagenet_root, '--resume'),
                  env=THREADS)
    assert "step 1/2 (binarize 'activations') finished before" in (
        result.stdout + result.stderr)
    _assert_same_final(uninterrupted[0], work)


def test_resume_inside_step_two_equals_uninterrupted(tmp_path, imagenet_root,
                                                     uninterrupted):
    work = str(tmp_path)
    # Epoch index 1 exists only in step 2 (step 1 has one epoch).
    killed = run([sys.executable, HARNESS,
                  *_two_step_args(work, imagenet_root)],
                 check=False, env=dict(KILL_AT='iter:1:1', **THREADS))
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not osp.exists(osp.join(work, 'step2_both', 'step_done.json'))
    result = tool('train.py', *_two_step_args(work, imagenet_root, '--resume'),
                  env=THREADS)
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    _assert_same_final(uninterrupted[0], work)
