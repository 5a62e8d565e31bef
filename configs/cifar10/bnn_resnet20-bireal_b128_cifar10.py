# Binary ResNet-20 on CIFAR-10, IR-Net / DIR-Net setting (docs/methods.md 1.4):
# widths 16/32/64, three blocks a stage, real 3x3 stem, option-A
# (zero-padded) shortcuts, a Bi-Real shortcut around every binary conv,
# Hardtanh; IMB weights, sign activations, DTE gradients; real FC.
# Reads CIFAR-10's python-pickle files from data/cifar10/cifar-10-batches-py
# (never downloaded).
# Schedule [choice]: SGD lr 0.1, momentum 0.9, weight decay 1e-4, cosine
# decay over 400 epochs, batch 128.
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/mmbnn.py',
    '../_base_/binary/dirnet.py',
]

binarized = 'backbone'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='BiRealResNet', depth=20, base_channels=16,
                  stem='cifar', downsample='zero_pad', out_indices=(2, ),
                  conv_cfg=_base_.dirnet_conv, act_cfg=dict(type='Hardtanh')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

data_root = 'data/cifar10/'
dataset_type = 'LocalCIFAR10'
train_dataloader = dict(batch_size=128, dataset=dict(type=dataset_type,
                                                     data_root=data_root))
val_dataloader = dict(batch_size=128, dataset=dict(type=dataset_type,
                                                   data_root=data_root))
test_dataloader = val_dataloader

max_epochs = 400
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9,
                                    weight_decay=1e-4))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
                       end=max_epochs)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
custom_hooks = [_base_.dte_scheduler]
