"""The toys the tests share: a small binary network, its data and an
mmengine Runner around them (the hook tests), a model with one parameter
of every kind AdamBNN treats differently, and trained-looking BN statistics.
"""
import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 4
# A small binary classifier (mmpretrain): a width-8 Bi-Real ResNet-20 with
# DIR-Net's binary convs, the student of the distillation tests.
TOY_CLASSIFIER = dict(
    type='ImageClassifier',
    backbone=dict(type='BiRealResNet', depth=20, base_channels=8, stem='cifar',
                  downsample='zero_pad', out_indices=(2, ),
                  conv_cfg=dict(type='BinaryConv2d')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=32,
              loss=dict(type='CrossEntropyLoss')))
# mmengine keeps one logger and visualizer per experiment name in a process:
# each toy run gets a name of its own.
_RUNS = itertools.count()


def toy_net(*convs):
    """Binary convs applied in order (``conv1``, ``conv2``, ...; default one
    IMB/STE conv, 3 -> 8 channels) and a linear head over 4 classes, on
    3x6x6 inputs."""
    from mmengine.model import BaseModel

    from mmbnn.models.layers import BinaryConv2d

    class ToyNet(BaseModel):

        def __init__(self, convs):
            super().__init__()
            convs = convs or (BinaryConv2d(
                3, 8, 3, padding=1, bias=False, weight_estimator='ste',
                activation_estimator='ste'), )
            self.names = [f'conv{i}' for i in range(1, len(convs) + 1)]
            for name, conv in zip(self.names, convs):
                self.add_module(name, conv)
            self.head = nn.Linear(convs[-1].out_channels, NUM_CLASSES)

        def forward(self, inputs, labels=None, mode='loss'):
            x = inputs
            for name in self.names:
                x = getattr(self, name)(x)
            logits = self.head(x.mean((2, 3)))
            if mode == 'loss':
                return dict(loss=F.cross_entropy(logits, labels))
            return logits

    return ToyNet(convs)


def toy_data(samples=24, seed=0):
    """``samples`` inputs (3x6x6, each drawn from its own seed) with labels
    cycling through the classes."""
    return [dict(inputs=torch.randn(
        3, 6, 6, generator=torch.Generator().manual_seed(seed * 100003 + i)),
        labels=i % NUM_CLASSES) for i in range(samples)]


def toy_runner(work_dir, hooks=(), model=None, epochs=1, iterations=None,
               samples=24, optimizer=dict(type='SGD', lr=2.0), shuffle=False,
               checkpoint=False, log_interval=4, name='toy', load_from=None,
               resume=False, optim_wrapper=None, **runner_kwargs):
    """An mmengine Runner training ``model`` (default ``toy_net()``) on
    ``toy_data(samples)`` in batches of 4, for ``epochs`` or, given
    ``iterations``, by iterations. ``checkpoint``: False, True (every
    epoch) or a CheckpointHook config. ``optim_wrapper``: the wrapper's
    config without its optimizer (default mmengine's plain wrapper);
    ``runner_kwargs`` go to the Runner (a launcher, say)."""
    from mmengine.runner import Runner

    # Registers the hooks and layers; mmdet is not needed (the device tier
    # runs without it).
    import mmbnn.engine  # noqa: F401
    import mmbnn.models  # noqa: F401
    if checkpoint is True:
        checkpoint = dict(type='CheckpointHook', interval=1)
    sampler = 'InfiniteSampler' if iterations else 'DefaultSampler'
    return Runner(
        model=model or toy_net(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=toy_data(samples), batch_size=4,
                              num_workers=0,
                              sampler=dict(type=sampler, shuffle=shuffle),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optim_wrapper or {}, optimizer=optimizer),
        train_cfg=dict(by_epoch=False, max_iters=iterations) if iterations
        else dict(by_epoch=True, max_epochs=epochs),
        default_hooks=dict(logger=dict(type='LoggerHook',
                                       interval=log_interval),
                           checkpoint=checkpoint or None),
        custom_hooks=list(hooks), default_scope='mmengine',
        randomness=dict(seed=0), experiment_name=f'{name}_{next(_RUNS)}',
        load_from=load_from, resume=resume, **runner_kwargs)


class Mixed(nn.Module):
    """One of every parameter kind AdamBNN treats differently."""

    def __init__(self):
        super().__init__()
        from mmbnn.models.layers import BinaryConv2d, LearnableShift, RPReLU
        self.conv = nn.Conv2d(3, 4, 3, bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.rsign = LearnableShift(4)
        self.binary = BinaryConv2d(4, 4, 3, bias=False)
        self.rprelu = RPReLU(4)
        self.fc = nn.Linear(4, 2)


def randomize_norms(model, seed=0):
    """Trained-looking BN statistics, so that folding them is not a no-op."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(c, generator=gen) * 0.3)
    return model
