"""Runs killed and resumed, checkpoints that do not fit, dead ranks."""
import os
import os.path as osp
import re
import subprocess
import sys
import time

import pytest
import torch

from conftest import DEMO_CONFIG, QUICK_LOADERS, ROOT, free_port, run, tool

BNN_CONFIG = osp.join(ROOT, 'configs', 'demo', 'bnn_ssd192_vgg16-w0.25_synthvoc.py')
HARNESS = osp.join(ROOT, 'tests', 'kill_harness.py')
EPOCHS = 3


# 12 training images, batch 2: 6 iterations an epoch; a checkpoint each epoch
# and only the newest kept (the demo's max_keep_ckpts=1).
SHORT = [f'train_cfg.max_epochs={EPOCHS}', 'default_hooks.checkpoint.interval=1',
         'default_hooks.logger.interval=1', *QUICK_LOADERS]
THREADS = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def _build(config):
    """The config's model, initialized as training starts (SSDNeck's L2Norm
    weight, for one, starts uninitialized)."""
    from mmbnn.apis import init_model
    torch.manual_seed(0)
    return init_model(config)


def _save(model, path):
    torch.save({'meta': {'epoch': 1}, 'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='module')
def fp_checkpoint(tmp_path_factory):
    return _save(_build(DEMO_CONFIG),
                 tmp_path_factory.mktemp('ckpt') / 'fp_demo.pth')


@pytest.fixture(scope='module')
def bnn_checkpoint(tmp_path_factory):
    return _save(_build(BNN_CONFIG),
                 tmp_path_factory.mktemp('ckpt') / 'bnn_demo.pth')


def _train_args(work, voc_root, fp_checkpoint, *extra):
    return [BNN_CONFIG, '--work-dir', work, '--data-root',
            osp.join(voc_root, 'VOCdevkit', ''), *extra, '--cfg-options',
            *SHORT, f'load_from={fp_checkpoint}']


def _killed(work, voc_root, fp_checkpoint, point):
    result = run([sys.executable, HARNESS,
                  *_train_args(work, voc_root, fp_checkpoint)],
                 check=False, env=dict(KILL_AT=point, **THREADS))
    assert result.returncode == -9, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'kill_harness: SIGKILL' in result.stdout


def _weights(path):
    from mmbnn.utils.checkpoint import read_checkpoint
    return read_checkpoint(path, map_location='cpu')['state_dict']


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa and wa.keys() == wb.keys()
    assert all(torch.isfinite(v).all() for v in wa.values()
               if v.is_floating_point()), 'training diverged'
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, voc_root, fp_checkpoint):
    """The BNN demo (from FP weights, as the demo starts it), never stopped."""
    work = str(tmp_path_factory.mktemp('uninterrupted'))
    tool('train.py', *_train_args(work, voc_root, fp_checkpoint), env=THREADS)
    return osp.join(work, f'epoch_{EPOCHS}.pth')


def test_killed_mid_epoch_and_resumed_equals_uninterrupted(
        tmp_path, voc_root, fp_checkpoint, uninterrupted):
    work = str(tmp_path)
    _killed(work, voc_root, fp_checkpoint, 'iter:1:3')  # epoch 2, 4th iteration
    assert open(osp.join(work, 'last_checkpoint')).read().endswith('epoch_1.pth')
    result = tool('train.py', *_train_args(work, voc_root, fp_checkpoint,
                                           '--resume'), env=THREADS)
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    _assert_same_weights(osp.join(work, f'epoch_{EPOCHS}.pth'), uninterrupted)


def test_killed_while_saving_keeps_previous_checkpoint(
        tmp_path, voc_root, fp_checkpoint, uninterrupted):
    from mmbnn.utils.checkpoint import read_checkpoint
    work = str(tmp_path)
    _killed(work, voc_root, fp_checkpoint, 'write:epoch_2.pth')
    pointed = open(osp.join(work, 'last_checkpoint')).read().strip()
    assert pointed.endswith('epoch_1.pth')
    assert read_checkpoint(pointed)['meta']['epoch'] == 1
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))
    tool('train.py', *_train_args(work, voc_root, fp_checkpoint, '--resume'),
         env=THREADS)
    _assert_same_weights(osp.join(work, f'epoch_{EPOCHS}.pth'), uninterrupted)
    # The resumed run's checkpoint (its meta carries the resumed history)
    # passes the safe loader; no temporary file is left behind.
    assert read_checkpoint(osp.join(work, f'epoch_{EPOCHS}.pth'))['meta'][
        'epoch'] == EPOCHS
    assert not [f for f in os.listdir(work) if f.endswith('.tmp')]


def _test_tool(voc_root, config, checkpoint, *options):
    return tool('test.py', config, checkpoint, '--data-root',
                osp.join(voc_root, 'VOCdevkit', ''), *options, check=False)


def _one_line_error(result):
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert 'pascal_voc/mAP' not in result.stdout
    assert 'Traceback' not in result.stderr
    errors = [line for line in result.stderr.splitlines()
              if line.startswith('error: ')]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]


def test_test_tool_refuses_checkpoint_with_other_class_count(
        voc_root, fp_checkpoint):
    line = _one_line_error(_test_tool(
        voc_root, DEMO_CONFIG, fp_checkpoint, '--cfg-options',
        'model.bbox_head.num_classes=3', *QUICK_LOADERS))
    assert 'fp_demo.pth' in line and 'ssd192_vgg16-w0.25_fp_synthvoc.py' in line
    # Level 0 has 4 anchors (ratios [2]); scores per anchor are classes + 1:
    # 20 VOC classes in the checkpoint, 3 in the model.
    found = re.search(r'(\d+) shape mismatches \(checkpoint vs model\): '
                      r'bbox_head\.cls_convs\.0\.0\.weight \((\d+), 128, 3, 3\) '
                      r'vs \((\d+), 128, 3, 3\)', line)
    assert found, line
    assert int(found.group(1)) == 10  # weight and bias of 5 levels' cls convs
    assert (int(found.group(2)), int(found.group(3))) == (4 * 21, 4 * 4)
    assert '(5 more)' in line  # the first 5 are listed


def test_test_tool_refuses_bnn_checkpoint_in_fp_config(voc_root, bnn_checkpoint):
    line = _one_line_error(_test_tool(voc_root, DEMO_CONFIG, bnn_checkpoint,
                                      '--cfg-options', *QUICK_LOADERS))
    assert 'unexpected keys: ' in line and 'bnn_demo.pth' in line
    assert re.search(r'backbone\.\S+\.conv\.(k|t|stage|act_t_cap)\b', line), line


def test_test_tool_refuses_fp_checkpoint_in_bnn_config(voc_root, fp_checkpoint):
    """The FP-to-BNN exception is for starting training only: evaluating a
    BNN config with FP weights would print a metric for the wrong model."""
    line = _one_line_error(_test_tool(voc_root, BNN_CONFIG, fp_checkpoint,
                                      '--cfg-options', *QUICK_LOADERS))
    assert 'missing keys: ' in line
    assert re.search(r'\.(k|t|stage|act_t_cap)\b', line), line


def test_allowed_mismatch_is_named_and_the_rest_evaluates(voc_root,
                                                          fp_checkpoint):
    result = _test_tool(voc_root, DEMO_CONFIG, fp_checkpoint,
                        '--allow-mismatch', 'bbox_head.cls_convs.*',
                        '--cfg-options', 'model.bbox_head.num_classes=3',
                        *QUICK_LOADERS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r'^pascal_voc/mAP: [0-9.]+$', result.stdout, re.M)


def test_test_tool_on_a_text_file(tmp_path, voc_root):
    fake = tmp_path / 'fake.pth'
    fake.write_text('not a checkpoint\n')
    line = _one_line_error(_test_tool(voc_root, DEMO_CONFIG, str(fake)))
    assert str(fake) in line and 'text file' in line


def test_train_tool_refuses_load_from_of_another_model(tmp_path, voc_root,
                                                       bnn_checkpoint):
    result = tool('train.py', DEMO_CONFIG, '--work-dir', str(tmp_path),
                  '--data-root', osp.join(voc_root, 'VOCdevkit', ''),
                  '--cfg-options', f'load_from={bnn_checkpoint}', *SHORT,
                  check=False)
    assert 'unexpected keys' in _one_line_error(result)
    assert not osp.exists(osp.join(str(tmp_path), 'epoch_1.pth'))


def test_dead_rank_ends_the_run_and_is_named(tmp_path, voc_root, fp_checkpoint):
    """Rank 1 is SIGKILLed in its second iteration; rank 0 must not wait for
    it (gloo's default timeout is 30 minutes)."""
    env = dict(os.environ, KILL_AT='iter:0:1', KILL_RANK='1', PYTHONUNBUFFERED='1',
               **THREADS)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes=1',
           '--nproc_per_node=2', '--master_addr=127.0.0.1',
           f'--master_port={free_port()}', HARNESS,
           *_train_args(str(tmp_path), voc_root, fp_checkpoint, '--launcher',
                        'pytorch')]
    start = time.time()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    elapsed = time.time() - start
    out = result.stdout + result.stderr
    assert 'kill_harness: SIGKILL' in out
    assert result.returncode != 0
    # torchrun's report: the root cause is rank 1, killed by signal 9.
    root = out[out.index('Root Cause'):] if 'Root Cause' in out else out
    assert re.search(r'rank\s*: 1 \(local_rank: 1\)\s*\n\s*exitcode\s*: -9',
                     root), out[-3000:]
    assert elapsed < 120, f'took {elapsed:.0f} s'


@pytest.mark.parametrize('fails', [False, True])
def test_tools_close_the_process_group_on_the_way_out(tmp_path, fails):
    """A rank that leaves with gloo's process group still up can abort at
    interpreter exit (SIGABRT, seen in a 2-process CI run); the tools'
    wrapper destroys it, after a normal end and after an error."""
    import torch.distributed as dist

    from mmbnn.apis import exit_on_user_error

    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store',
                            rank=0, world_size=1)

    def main():
        assert dist.is_initialized()
        if fails:
            raise FileNotFoundError('no such config')
        return 'done'
    try:
        if fails:
            with pytest.raises(SystemExit):
                exit_on_user_error(main)
        else:
            assert exit_on_user_error(main) == 'done'
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
