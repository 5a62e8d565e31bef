"""Classifier configs through the tools (mmpretrain): training, testing,
the backbone hand-off to detectors, RBD."""
import glob
import math
import os.path as osp
import re
import sys
import types

import pytest
import torch

from conftest import NUM_CLASSES, ROOT, check_binary_parts
from conftest import imagenet_data_options as _data_options
from conftest import run, tool
from test_configs import CLASSIFIER_CONFIGS

DEMO_BNN_CLS = osp.join(ROOT, 'configs', 'demo', 'bnn_vgg16-w0.25_synthimagenet.py')
DEMO_FP_CLS = osp.join(ROOT, 'configs', 'demo', 'vgg16-w0.25_fp_synthimagenet.py')
DEMO_BNN_DET = osp.join(ROOT, 'configs', 'demo', 'bnn_ssd192_vgg16-w0.25_synthvoc.py')


@pytest.fixture(scope='session')
def cifar_root(tmp_path_factory):
    from mmbnn.datasets import generate_cifar10
    root = str(tmp_path_factory.mktemp('cifar'))
    generate_cifar10(root, num_train=20, num_test=10, seed=4, progress=False)
    return root


def _classifier_cfg(path, imagenet_root, cifar_root):
    from mmbnn.apis import load_config
    cifar = 'cifar' in osp.basename(path)
    root = osp.join(cifar_root if cifar else imagenet_root, '')
    cfg = load_config(path)
    for name in ('train_dataloader', 'test_dataloader'):
        data = cfg[name].dataset
        data.data_root = root
        if cifar:
            data.verify_md5 = False  # generated files, same format
        else:
            # The real ImageNet configs have 1000 classes; the generated set
            # names its own in synset_mapping.txt.
            data.classes = osp.join(root, 'synset_mapping.txt')
    if not cifar:
        cfg.model.head.num_classes = NUM_CLASSES
    return cfg


@pytest.mark.parametrize('path', CLASSIFIER_CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in CLASSIFIER_CONFIGS])
def test_classifier_config_trains_a_step_and_evaluates(path, imagenet_root,
                                                       cifar_root):
    from mmengine.dataset import pseudo_collate
    from mmengine.evaluator import Evaluator
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DATASETS, MODELS, init_default_scope

    cfg = _classifier_cfg(path, imagenet_root, cifar_root)
    init_default_scope(cfg.default_scope)
    assert cfg.default_scope == 'mmpretrain'
    torch.manual_seed(0)
    model_cfg = dict(cfg.model, data_preprocessor=dict(
        cfg.get('data_preprocessor', {}), type='ClsDataPreprocessor'))
    model = MODELS.build(model_cfg)
    model.init_weights()
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(train_set.metainfo['classes']) == cfg.model.head.num_classes
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    losses = model.train_step(pseudo_collate([train_set[0], train_set[1]]), optim)
    assert math.isfinite(losses['loss'].item()) and losses['loss'].item() > 0

    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    batch = pseudo_collate([test_set[i] for i in range(2)])
    model.eval()
    with torch.no_grad():
        outputs = model.test_step(batch)
    assert outputs[0].pred_score.shape == (cfg.model.head.num_classes, )
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.process(outputs, batch)
    metrics = evaluator.evaluate(2)
    assert metrics['accuracy/top1'] in (0.0, 50.0, 100.0)  # 2 images
    check_binary_parts(path, cfg, model)


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, imagenet_root):
    """The demo's binary backbone pretraining, one epoch, through the tools."""
    work = str(tmp_path_factory.mktemp('pretrain'))
    tool('train.py', DEMO_BNN_CLS, '--work-dir', work, '--cfg-options',
         *_data_options(imagenet_root))
    return work, osp.join(work, 'epoch_1.pth')


def test_test_tool_prints_top1_and_top5(pretrained, imagenet_root):
    work, checkpoint = pretrained
    result = tool('test.py', DEMO_BNN_CLS, checkpoint, '--work-dir', work,
                  '--cfg-options', *_data_options(imagenet_root))
    for key in ('accuracy/top1', 'accuracy/top5'):
        found = re.findall(rf'^{re.escape(key)}: ([0-9.]+)$', result.stdout, re.M)
        assert found and 0 <= float(found[-1]) <= 100, result.stdout[-2000:]


def _detector(init_cfg):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = Config.fromfile(DEMO_BNN_DET)
    cfg.model.backbone.init_cfg = init_cfg
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_pretrained_classifier_initializes_the_detector_backbone(pretrained):
    from mmbnn.utils.checkpoint import read_checkpoint
    _, checkpoint = pretrained
    classifier = read_checkpoint(checkpoint)['state_dict']
    detector = _detector(dict(type='Pretrained', checkpoint=checkpoint,
                              prefix='backbone.'))
    own = detector.backbone.state_dict()
    weights = [k for k in own if k.rpartition('.')[2] not in
               ('k', 't', 'stage', 'act_t_cap')]
    assert len(weights) > 50
    for key in weights:
        assert torch.equal(own[key], classifier['backbone.' + key]), key
    # The schedule buffers start fresh, not from the classifier's run.
    fresh = _detector(None).backbone.state_dict()
    trained_t = classifier['backbone.layers.conv2_1.conv.t']
    assert not torch.equal(trained_t, fresh['layers.conv2_1.conv.t'])
    assert torch.equal(own['layers.conv2_1.conv.t'], fresh['layers.conv2_1.conv.t'])


def test_hand_off_with_a_wrong_prefix_lists_the_missing_keys(pretrained):
    from mmbnn.utils.checkpoint import CheckpointMismatchError
    _, checkpoint = pretrained
    with pytest.raises(CheckpointMismatchError,
                       match=r'missing keys: layers\.conv1_1\.conv\.weight') as err:
        _detector(dict(type='Pretrained', checkpoint=checkpoint,
                       prefix='backbone.layers.'))
    assert 'unexpected keys: conv1_1.conv.weight' in str(err.value)
    with pytest.raises(CheckpointMismatchError, match=r"prefix 'neck\.'.*backbone\."):
        _detector(dict(type='Pretrained', checkpoint=checkpoint, prefix='neck.'))


def test_hand_off_allows_only_named_keys(pretrained, tmp_path):
    from mmbnn.utils.checkpoint import CheckpointMismatchError, read_checkpoint
    _, checkpoint = pretrained
    state = read_checkpoint(checkpoint)['state_dict']
    del state['backbone.layers.fc7.conv.weight']
    partial = tmp_path / 'partial.pth'
    torch.save({'state_dict': state}, partial)
    with pytest.raises(CheckpointMismatchError, match=r'1 missing keys: '
                       r'layers\.fc7\.conv\.weight'):
        _detector(dict(type='Pretrained', checkpoint=str(partial),
                       prefix='backbone.'))
    model = _detector(dict(type='Pretrained', checkpoint=str(partial),
                           prefix='backbone.', allow_mismatch=['layers.fc7.*']))
    assert torch.equal(model.backbone.layers.fc6.conv.weight,
                       state['backbone.layers.fc6.conv.weight'])


def _rbd_config(tmp_path, imagenet_root):
    """The demo BNN classifier with RBD from an FP twin's checkpoint."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmpretrain')
    teacher = MODELS.build(Config.fromfile(DEMO_FP_CLS).model)
    teacher.init_weights()
    checkpoint = tmp_path / 'fp_classifier.pth'
    torch.save({'state_dict': teacher.state_dict()}, checkpoint)
    config = tmp_path / 'bnn_rbd.py'
    config.write_text(
        f"_base_ = [{DEMO_BNN_CLS!r}]\n"
        "custom_hooks = [dict(type='EpochSeedHook'),\n"
        "    dict(type='BinarySchedulerHook', log_interval=1),\n"
        f"    dict(type='RBDHook', teacher_config={DEMO_FP_CLS!r},\n"
        f"         teacher_checkpoint={str(checkpoint)!r}, loss_weight=1.0)]\n")
    return str(config)


def _assert_student_only_checkpoint(path):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    from mmbnn.models.utils.state_dict import load_fitting_state_dict
    from mmbnn.utils.checkpoint import read_checkpoint, state_dict_of
    state = state_dict_of(read_checkpoint(path))
    assert not any('teacher' in k for k in state)
    init_default_scope('mmpretrain')
    student = MODELS.build(Config.fromfile(DEMO_BNN_CLS).model)
    load_fitting_state_dict(student, state, path, 'the plain student')  # strict
    for key, value in student.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_rbd_training_logs_loss_and_saves_only_the_student(tmp_path,
                                                           imagenet_root):
    config = _rbd_config(tmp_path, imagenet_root)
    work = str(tmp_path / 'work')
    tool('train.py', config, '--work-dir', work, '--cfg-options',
         'default_hooks.logger.interval=1', *_data_options(imagenet_root))
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    values = [float(v) for v in re.findall(r'loss_rbd: ([0-9.]+)', log)]
    assert values and all(v > 0 for v in values)
    _assert_student_only_checkpoint(osp.join(work, 'epoch_1.pth'))


def test_rbd_under_the_two_process_launcher(tmp_path, imagenet_root):
    from conftest import free_port
    config = _rbd_config(tmp_path, imagenet_root)
    work = str(tmp_path / 'dist')
    run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), config, '2',
         '--work-dir', work, '--cfg-options', 'default_hooks.logger.interval=1',
         *_data_options(imagenet_root)],
        env=dict(PYTHON=sys.executable, PORT=str(free_port()),
                 OMP_NUM_THREADS='1'))
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    assert 'Distributed training: True' in log
    assert re.search(r'loss_rbd: [0-9.]+', log)
    _assert_student_only_checkpoint(osp.join(work, 'epoch_1.pth'))


@pytest.mark.parametrize('student_cfg,teacher_cfg,coco', [
    ('demo/bnn_ssd192_vgg16-w0.25_synthvoc.py',
     'demo/ssd192_vgg16-w0.25_fp_synthvoc.py', False),
    ('bnn_faster-rcnn_r18_fpn_1x_coco.py',
     'faster-rcnn_r18-bireal_fpn_1x_coco_fp.py', True),
])
def test_rbd_on_detectors_trains_a_step(tmp_path, voc_root, coco_root,
                                        student_cfg, teacher_cfg, coco):
    from mmdet.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from mmbnn.apis import load_config
    from mmbnn.engine.hooks import RBDHook
    from test_configs import _shrink_resizes

    root = osp.join(coco_root, '') if coco else osp.join(voc_root, 'VOCdevkit', '')
    teacher_path = osp.join(ROOT, 'configs', teacher_cfg)
    cfg = load_config(osp.join(ROOT, 'configs', student_cfg), data_root=root)
    _shrink_resizes(cfg.train_dataloader)
    init_default_scope('mmdet')
    teacher = MODELS.build(load_config(teacher_path).model)
    teacher.init_weights()
    checkpoint = tmp_path / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, checkpoint)
    student = MODELS.build(cfg.model)
    student.init_weights()
    hook = RBDHook(teacher_checkpoint=str(checkpoint), teacher_config=teacher_path)
    runner = types.SimpleNamespace(model=student, cfg=cfg,
                                   logger=MMLogger.get_current_instance())
    hook.before_train(runner)
    assert hook.tapped and all(n.startswith(('backbone.', 'neck.'))
                               for n in hook.tapped)
    assert any(n.startswith('neck.') for n in hook.tapped)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    optim = build_optim_wrapper(student, cfg.optim_wrapper)
    student.train()
    losses = student.train_step(pseudo_collate([dataset[0], dataset[1]]), optim)
    assert 0 < losses['loss_rbd'].item() <= 4 * len(hook.tapped)
    hook.after_train(runner)
