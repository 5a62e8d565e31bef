"""tools/train.py, tools/test.py and tools/dist_*.sh end to end on tiny
generated datasets."""
import glob
import os.path as osp
import pickle
import re
import shutil
import sys

import pytest

from conftest import DEMO_CONFIG, QUICK_LOADERS, ROOT, free_port, run, tool

COCO_CONFIG = osp.join(ROOT, 'configs', 'demo',
                       'faster-rcnn_r18_fpn_fp_synthcoco.py')
BNN_CONFIG = osp.join(ROOT, 'configs', 'demo',
                      'bnn_ssd192_vgg16-w0.25_synthvoc.py')


def _metric(stdout, key):
    found = re.findall(rf'^{re.escape(key)}: ([0-9.]+)$', stdout, re.M)
    assert found, f'{key} not printed:\n{stdout[-3000:]}'
    return float(found[-1])


@pytest.fixture(scope='module')
def voc_run(tmp_path_factory, voc_root):
    """One epoch of the demo SSD on the tiny generated VOC set."""
    work = str(tmp_path_factory.mktemp('voc_run'))
    tool('train.py', DEMO_CONFIG, '--work-dir', work, '--data-root',
         osp.join(voc_root, 'VOCdevkit', ''), '--cfg-options',
         'train_cfg.max_epochs=1', *QUICK_LOADERS)
    # A copy for the test tools: the resume test's run rotates epoch_1.pth
    # away (max_keep_ckpts=1).
    shutil.copy(osp.join(work, 'epoch_1.pth'), osp.join(work, 'trained.pth'))
    return work


def test_train_writes_checkpoint_and_validates(voc_run):
    assert osp.isfile(osp.join(voc_run, 'epoch_1.pth'))
    logs = glob.glob(osp.join(voc_run, '*', '*.log'))
    text = open(logs[0]).read()
    assert 'pascal_voc/mAP' in text  # validation ran at the last epoch


def test_test_tool_prints_voc_map_dumps_and_draws(voc_run, voc_root, tmp_path):
    out = str(tmp_path / 'preds.pkl')
    result = tool('test.py', DEMO_CONFIG, osp.join(voc_run, 'trained.pth'),
                  '--work-dir', str(tmp_path), '--data-root',
                  osp.join(voc_root, 'VOCdevkit', ''), '--out', out,
                  '--show-dir', 'vis', '--cfg-options', *QUICK_LOADERS)
    value = _metric(result.stdout, 'pascal_voc/mAP')
    assert 0.0 <= value <= 1.0
    with open(voc_root + '/VOCdevkit/VOC2007/ImageSets/Main/test.txt') as f:
        num_test = len(f.read().split())
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == num_test
    assert {'bboxes', 'scores', 'labels'} <= set(preds[0]['pred_instances'])
    drawn = glob.glob(osp.join(str(tmp_path), '*', 'vis', '*.jpg'))
    assert len(drawn) == num_test
    assert 'drawn detections:' in result.stdout


def test_resume_continues_from_checkpoint(voc_run, voc_root):
    result = tool('train.py', DEMO_CONFIG, '--work-dir', voc_run, '--resume',
                  '--data-root', osp.join(voc_root, 'VOCdevkit', ''),
                  '--cfg-options', 'train_cfg.max_epochs=2', *QUICK_LOADERS)
    combined = result.stdout + result.stderr
    assert 'resumed epoch: 1' in combined
    assert osp.isfile(osp.join(voc_run, 'epoch_2.pth'))


def test_coco_train_then_test_prints_bbox_map(tmp_path, coco_root):
    work = str(tmp_path / 'coco')
    quick = [*QUICK_LOADERS, 'model.test_cfg.rcnn.score_thr=0.0']
    tool('train.py', COCO_CONFIG, '--work-dir', work, '--data-root',
         osp.join(coco_root, ''), '--cfg-options', 'train_cfg.max_epochs=1',
         *quick)
    result = tool('test.py', COCO_CONFIG, osp.join(work, 'epoch_1.pth'),
                  '--work-dir', work, '--data-root', osp.join(coco_root, ''),
                  '--cfg-options', *quick)
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        assert 0.0 <= _metric(result.stdout, key) <= 1.0


def test_dist_train_two_processes_gloo(tmp_path, voc_root):
    """The binary demo under DDP: binary layers, their buffers and the
    schedule hook across two gloo ranks."""
    work = str(tmp_path / 'dist')
    result = run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), BNN_CONFIG,
                  '2', '--work-dir', work, '--data-root',
                  osp.join(voc_root, 'VOCdevkit', ''), '--cfg-options',
                  'train_cfg.max_epochs=1', *QUICK_LOADERS],
                 env=dict(PYTHON=sys.executable, PORT=str(free_port()),
                          OMP_NUM_THREADS='1'))
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    assert 'Distributed training: True' in log
    assert re.search(r'GPU number: 2\b', log)
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    # Each of the 2 ranks sees half the batches of the 12-image training set.
    assert 'Epoch(train) [1][3/3]' in log, result.stdout[-2000:]
    assert 'bnn_t:' in log  # the schedule hook logged from the wrapped model


def test_stock_mmdet_train_tool_takes_mmbnn_config(tmp_path, voc_root):
    import mmdet
    stock = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')
    root = osp.join(voc_root, 'VOCdevkit', '')
    opts = ['train_cfg.max_epochs=1',
            'train_dataloader.persistent_workers=False',
            'val_dataloader.persistent_workers=False',
            'test_dataloader.persistent_workers=False', *QUICK_LOADERS]
    opts += [f'train_dataloader.dataset.dataset.datasets.{i}.data_root={root}'
             for i in (0, 1)]
    opts += [f'val_dataloader.dataset.data_root={root}']
    run([sys.executable, stock, DEMO_CONFIG, '--work-dir', str(tmp_path),
         '--cfg-options', *opts])
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))


def test_dist_test_two_processes_gloo(voc_run, voc_root, tmp_path):
    """Two ranks write to one stdout: the metrics and the drawn-detections
    path come from the main process only, each line once and whole."""
    result = run(['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), DEMO_CONFIG,
                  osp.join(voc_run, 'trained.pth'), '2', '--work-dir',
                  str(tmp_path), '--data-root',
                  osp.join(voc_root, 'VOCdevkit', ''), '--show-dir', 'vis',
                  '--cfg-options', *QUICK_LOADERS],
                 env=dict(PYTHON=sys.executable, PORT=str(free_port()),
                          OMP_NUM_THREADS='1'))
    # The tool's own lines (not mmengine's log lines, which also name the
    # metrics).
    lines = [line for line in result.stdout.splitlines()
             if ' - mmengine - ' not in line]
    metric_lines = [line for line in lines if 'pascal_voc/' in line]
    keys = [line.split(':')[0] for line in metric_lines]
    assert keys and len(keys) == len(set(keys)), metric_lines
    for line in metric_lines:
        assert re.fullmatch(r'pascal_voc/[\w.]+: [0-9.]+', line), line
    assert 0.0 <= _metric(result.stdout, 'pascal_voc/mAP') <= 1.0
    assert sum('drawn detections:' in line for line in lines) == 1, lines[-20:]


def test_missing_data_root_is_named_by_the_train_tool(tmp_path):
    missing = str(tmp_path / 'no' / 'VOCdevkit') + '/'
    result = tool('train.py', DEMO_CONFIG, '--work-dir', str(tmp_path / 'w'),
                  '--data-root', missing, '--cfg-options', *QUICK_LOADERS,
                  check=False)
    assert result.returncode != 0
    assert f"data_root '{missing}' does not exist" in result.stderr


def test_amp_without_gpu_is_refused_clearly(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('a GPU is present: --amp is supported')
    result = tool('train.py', DEMO_CONFIG, '--amp', '--work-dir',
                  str(tmp_path), check=False)
    assert result.returncode != 0
    assert '--amp needs a GPU' in result.stderr
