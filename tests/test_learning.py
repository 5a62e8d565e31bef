"""Training must learn, and the generated data must need shapes: a small
binary CNN (IMB weights, sign activations, DTE gradients on the DTE
schedule) trained a few epochs on generated shape families clears a top-1
floor that the same model untrained, or trained with its binary weights
frozen, does not reach (a wrong gradient, a binarizer that destroys the
signal or a schedule stuck at a zero gradient fails it); colour alone does
not classify the generated classes while a small FP CNN does; and a short
DIR-Net run does not blow up in DTE's second stage."""
import math
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F


def _set_dte(net, progress):
    """What BinarySchedulerHook sets at ``progress`` of the run."""
    from mmbnn.models.layers import binary_layers
    from mmbnn.ops import dte_schedule
    k, t, stage = dte_schedule(progress)
    for _, layer in binary_layers(net):
        layer.k.fill_(k)
        layer.t.fill_(t)
        layer.stage.fill_(stage)


def _small_cnn(num_classes=10, width=16, binary=False):
    """Four conv blocks (widths w, 2w, 4w, 4w, each halving the size) and a
    linear head. ``binary``: blocks 2-4 binary (IMB weights, sign
    activations, DTE gradients) in XNOR-Net's order, BN -> binary conv ->
    BN -> ReLU -> pool: the BN in front centres the ReLU output the sign
    reads (a sign of a ReLU output is +1 everywhere). The first block stays
    real, as in every BNN."""
    from mmbnn.models.layers import BinaryConv2d

    def block(cin, cout, binarized):
        if not binarized:
            return [torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                    torch.nn.BatchNorm2d(cout), torch.nn.ReLU(),
                    torch.nn.MaxPool2d(2)]
        return [torch.nn.BatchNorm2d(cin),
                BinaryConv2d(cin, cout, 3, padding=1, bias=False,
                             binarize='both', weight_binarizer='imb',
                             activation_binarizer='sign',
                             weight_estimator='dte',
                             activation_estimator='dte'),
                torch.nn.BatchNorm2d(cout), torch.nn.ReLU(),
                torch.nn.MaxPool2d(2)]
    w = width
    layers = [*block(3, w, False), *block(w, 2 * w, binary),
              *block(2 * w, 4 * w, binary), *block(4 * w, 4 * w, binary)]
    return torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(),
                               torch.nn.Linear(4 * w, num_classes))


def _accuracy(net, x, y):
    net.eval()
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


def _train_small_cnn(net, x, y, epochs=8, batch=32, lr=2e-3, seed=0):
    """Adam with a one-cycle schedule (peak 2 lr), left-right flips; the
    DTE schedule over the run's progress for binary layers."""
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr)
    steps = len(x) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2 * lr,
                                                total_steps=steps * epochs)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(steps):
            _set_dte(net, (epoch * steps + i) / (epochs * steps))
            idx = order[i * batch:(i + 1) * batch]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], x[idx].flip(3), x[idx])
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return net


def _class_folders(root, num_classes, train_per_class, val_per_class, seed):
    """A generated ImageNet-layout set at 32 px, standardized tensors."""
    from mmbnn.datasets import generate_imagenet
    from mmbnn.datasets.shortcuts import read_class_folders
    generate_imagenet(root, num_train_per_class=train_per_class,
                      num_val_per_class=val_per_class, image_size=32,
                      num_classes=num_classes, seed=seed, progress=False)
    x, y = read_class_folders(osp.join(root, 'train'), size=32)
    xv, yv = read_class_folders(osp.join(root, 'val'), size=32)

    def tensor(images):
        return torch.from_numpy(images).permute(0, 3, 1, 2).float()
    xt, xvt = tensor(x), tensor(xv)
    mean, std = xt.mean((0, 2, 3), keepdim=True), xt.std((0, 2, 3),
                                                         keepdim=True)
    return ((xt - mean) / std, torch.from_numpy(y).long(),
            (xvt - mean) / std, torch.from_numpy(yv).long(), (x, y, xv, yv))


def test_binary_classifier_learns_above_a_floor_untrained_cannot_reach(
        tmp_path):
    """A small binary CNN (blocks 2-4 IMB + sign + DTE, widths 32-128, the
    DTE schedule set each iteration) on 4 generated shape families (600
    training and 50 validation images a class, 32 px, colour independent of
    the class), 8 epochs: top-1 at least 60% (chance 25%). Measured with
    torch seeds 0-2: 88.5, 87.0 and 92.0%; untrained 25% (one class for
    every image; asserted < 35%); seed 0 with the binary convs' weights
    frozen (what a zero gradient through the estimators leaves) 30.5%. The
    test runs seed 0."""
    x, y, xv, yv, _ = _class_folders(str(tmp_path), 4, 600, 50, seed=3)
    torch.manual_seed(0)
    net = _small_cnn(num_classes=4, width=32, binary=True)
    assert _accuracy(net, xv, yv) < 0.35
    top1 = _accuracy(_train_small_cnn(net, x, y), xv, yv)
    assert top1 >= 0.6, top1


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
            _set_dte(net, p)
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


def test_generated_classes_are_shapes_colour_cannot_tell_them_apart(tmp_path):
    """The generated ImageNet layout (10 shape families, 200 training and 30
    validation images a class, 32 px): nearest-centroid on colour histograms
    stays near chance (at most 20%; this set 13%, generator seeds 0-5 gave
    9-16%; at 64 px the generator of before, one colour per class, gave
    88.5%), while the small FP CNN trained 8 epochs on the same images
    learns the shapes (at least 55%; torch seeds 0-2 gave 71.7, 72.3 and
    73.0%). The test runs seed 0."""
    from mmbnn.datasets.shortcuts import (colour_histograms,
                                          nearest_centroid_accuracy)
    x, y, xv, yv, raw = _class_folders(str(tmp_path), 10, 200, 30, seed=3)
    colour = nearest_centroid_accuracy(colour_histograms(raw[0]), raw[1],
                                       colour_histograms(raw[2]), raw[3])
    assert colour <= 0.2, colour
    torch.manual_seed(0)
    net = _train_small_cnn(_small_cnn(), x, y, seed=0)
    top1 = _accuracy(net, xv, yv)
    assert top1 >= 0.55, top1
