"""Every config under configs/ builds, trains one step and predicts on
generated data in its dataset's real on-disk format."""
import glob
import math
import os.path as osp

import pytest
import torch

from conftest import ROOT, check_binary_parts
from mmbnn.apis import load_config

# configs/_base_ holds fragments (schedules, step recipes), not whole configs.
ALL_CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                                          recursive=True)
                     if '_base_' not in osp.relpath(p, ROOT).split(osp.sep))
# Classifiers (ImageNet/CIFAR pretraining) are exercised in test_classification.
CLASSIFIER_CONFIGS = [p for p in ALL_CONFIGS if 'imagenet' in p or 'cifar' in p]
CONFIGS = [p for p in ALL_CONFIGS if p not in CLASSIFIER_CONFIGS]


def test_every_config_is_listed():
    names = {osp.relpath(p, ROOT) for p in CONFIGS}
    assert {'configs/bnn_ssd300_voc.py',
            'configs/bnn_faster-rcnn_r18_fpn_1x_coco.py'} <= names
    assert len(names) >= 10
    assert len(CLASSIFIER_CONFIGS) >= 12


def _shrink_resizes(node):
    if isinstance(node, dict):
        if node.get('type') == 'Resize' and max(node['scale']) > 320:
            node['scale'] = (320, 320)
        for value in node.values():
            _shrink_resizes(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _shrink_resizes(value)


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_trains_one_step_and_predicts(path, voc_root, coco_root):
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmdet.registry import DATASETS, MODELS

    coco = 'coco' in osp.basename(path)
    root = osp.join(coco_root, '') if coco else osp.join(voc_root, 'VOCdevkit', '')
    cfg = load_config(path, data_root=root)
    for key in ('train_dataloader', 'test_dataloader'):
        _shrink_resizes(cfg[key])  # test speed only: COCO's 1333x800 is slow on a CPU
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    # Hand-offs from an earlier demo step's checkpoints are tested in
    # test_classification; here the parts start from their own init.
    for part in cfg.model.values():
        init = part.get('init_cfg') if isinstance(part, dict) else None
        inits = init if isinstance(init, list) else [init]
        if any(isinstance(i, dict) and i.get('type') == 'Pretrained'
               and not osp.isfile(i['checkpoint']) for i in inits):
            part.init_cfg = [] if isinstance(init, list) else None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    losses = model.train_step(pseudo_collate([train_set[0], train_set[1]]), optim)
    total = sum(v.item() for k, v in losses.items() if 'loss' in k)
    assert math.isfinite(total) and total > 0

    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    model.eval()
    with torch.no_grad():
        out = model.test_step(pseudo_collate([test_set[0]]))
    pred = out[0].pred_instances
    assert pred.bboxes.ndim == 2 and pred.bboxes.shape[1] == 4
    assert len(pred.scores) == len(pred.labels) == len(pred.bboxes)
    check_binary_parts(path, cfg, model)
