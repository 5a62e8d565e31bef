# Binary ResNet-18 on ImageNet-1k, IR-Net / DIR-Net recipe (docs/methods.md 1.1,
# 1.2, 1.4): Bi-Real shortcut around every binary 3x3 conv, real 7x7 stem,
# real 1x1 downsample shortcuts and real FC; IMB weights (balanced,
# standardized, power-of-two scale), sign activations, DTE gradients;
# Hardtanh in the blocks. 8 GPUs x 32 images.
# Schedule [choice]: IR-Net trains with SGD "following the original
# architectures' settings" and gives no ImageNet schedule, so this is
# mmpretrain's ResNet recipe (SGD, lr 0.1, momentum 0.9, weight decay 1e-4)
# with cosine decay over 100 epochs (see README.md for the paper's figures).
# The trained backbone initializes the binary detectors (init_cfg
# Pretrained, prefix 'backbone.').
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/mmbnn.py',
    '../_base_/binary/dirnet.py',
]

binarized = 'backbone'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='BiRealResNet', depth=18, out_indices=(3, ),
                  conv_cfg=_base_.dirnet_conv, act_cfg=dict(type='Hardtanh')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
custom_hooks = [_base_.dte_scheduler]
