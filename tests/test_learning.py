"""Training must learn: the demo's binary classifier (IMB weights, sign
activations, DTE gradients, the DTE schedule hook) trained for a few epochs
on generated data clears a top-1 floor that the same model untrained does
not reach. A wrong gradient, a binarizer that destroys the signal or a
schedule stuck at a zero gradient fails it. And a short DIR-Net run does
not blow up in DTE's second stage."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT

CONFIG = osp.join(ROOT, 'configs', 'demo', 'bnn_vgg16-w0.25_synthimagenet.py')
CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS = 10, 30, 10
EPOCHS = 8
SIZE = 48  # the VGG's five poolings leave 1x1 at 32 px: it does not learn
FLOOR = 50.0  # top-1 %, chance is 10


@pytest.fixture(scope='module')
def learning_set(tmp_path_factory):
    from mmbnn.datasets import generate_imagenet
    root = str(tmp_path_factory.mktemp('learning_set'))
    generate_imagenet(root, num_train_per_class=TRAIN_PER_CLASS,
                      num_val_per_class=VAL_PER_CLASS, image_size=SIZE,
                      num_classes=CLASSES, seed=11, progress=False)
    return osp.join(root, '')


def _runner(root, work_dir, seed):
    from mmbnn.apis import build_runner, load_config
    loaders = {}
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loaders[name] = dict(
            batch_size=16, num_workers=0,
            dataset=dict(data_root=root, classes=root + 'synset_mapping.txt'))
    cfg = load_config(CONFIG, work_dir=work_dir, cfg_options=dict(
        loaders, randomness=dict(seed=seed),
        train_cfg=dict(max_epochs=EPOCHS, val_interval=EPOCHS),
        default_hooks=dict(checkpoint=dict(interval=EPOCHS),
                           logger=dict(interval=50))))
    # The pipelines were built from the config's 64 px.
    for name in loaders:
        for step in cfg[name].dataset.pipeline:
            for key in ('scale', 'crop_size'):
                if key in step:
                    step[key] = SIZE
    return build_runner(cfg)


def test_binary_classifier_learns_above_a_floor_untrained_cannot_reach(
        learning_set, tmp_path):
    """Top-1 on 100 validation images of 10 classes (48 px) after 8 epochs
    of 300 images (150 iterations of 16); the floor is 50%, chance 10%.
    Untrained, the model scored 7-13% (seeds 0-4; asserted < 25% each run).
    Trained, seeds 0-4 gave 79, 83, 74, 83 and 86%: the floor sits 24 points
    below the worst. The test runs seed 0."""
    untrained = _runner(learning_set, str(tmp_path / 'untrained'), 0).test()
    assert untrained['accuracy/top1'] < 25.0, untrained
    trained = _runner(learning_set, str(tmp_path / 'trained'), 0)
    trained.train()
    top1 = trained.test()['accuracy/top1']
    assert top1 >= FLOOR, top1


def _cifar_batches(tmp_path, num):
    """``num`` generated CIFAR-10 training images, standardized, at 16 px."""
    import pickle

    from mmbnn.datasets import generate_cifar10
    generate_cifar10(str(tmp_path), num_train=num, num_test=0, seed=0,
                     progress=False)
    rows, labels = [], []
    for b in range(1, 6):
        path = osp.join(str(tmp_path), 'cifar-10-batches-py',
                        f'data_batch_{b}')
        with open(path, 'rb') as f:
            batch = pickle.load(f, encoding='latin1')
        rows.append(batch['data'])
        labels += batch['labels']
    x = torch.from_numpy(np.concatenate(rows)).float().view(-1, 3, 32, 32)
    x = (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True)
    return F.avg_pool2d(x, 2), torch.tensor(labels)


def test_dte_short_run_loss_does_not_rise_in_stage_two(tmp_path):
    """IR-Net's CIFAR recipe cut short (binary ResNet-20 at width 8 and 16 px,
    IMB + DTE with t from 0.1 to 10, SGD lr 0.1 with momentum and cosine
    decay, 6 epochs of 1280 images): in DTE's stage 2 (epochs 4-6) the
    training loss of epochs 5 and 6 (t from 2 to 10) must stay within 20% of
    epoch 4's (t from 1 to 2). The bound that never held before (DTE equal
    to EDE) gave 1.21, then 1.32 and 3.72 (+207%); with the gain bound on
    the activations, 1.22, 1.10, 1.01 (one thread)."""
    from mmbnn.models.backbones import BiRealResNet
    from mmbnn.models.layers import binary_layers
    from mmbnn.ops import dte_schedule
    torch.manual_seed(0)
    x, y = _cifar_batches(tmp_path, 1280)
    net = BiRealResNet(depth=20, base_channels=8, stem='cifar',
                       downsample='zero_pad', out_indices=(2, ))
    net.init_weights()
    fc = torch.nn.Linear(32, 10)
    opt = torch.optim.SGD([*net.parameters(), *fc.parameters()], lr=0.1,
                          momentum=0.9, weight_decay=1e-4)
    epochs, batch = 6, 64
    steps = len(x) // batch
    gen = torch.Generator().manual_seed(0)
    losses = []
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        epoch_loss = []
        for i in range(steps):
            p = (epoch * steps + i) / (epochs * steps)
            k, t, stage = dte_schedule(p)  # what BinarySchedulerHook sets
            for _, layer in binary_layers(net):
                layer.k.fill_(k)
                layer.t.fill_(t)
                layer.stage.fill_(stage)
            for group in opt.param_groups:
                group['lr'] = 0.05 * (1 + math.cos(math.pi * p))
            idx = order[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(fc(net(x[idx])[0].mean((2, 3))), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            epoch_loss.append(loss.item())
        losses.append(np.mean(epoch_loss))
    assert all(np.isfinite(losses)), losses
    assert max(losses[4:]) <= 1.2 * losses[3], losses
    assert losses[-1] < losses[0], losses  # and the run learned
