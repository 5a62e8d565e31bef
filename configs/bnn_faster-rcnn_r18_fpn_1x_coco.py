# DIR-Net Faster R-CNN on COCO (train2017 -> val2017, bbox mAP).
# Binary: the ResNet-18 backbone (IR-Net / Bi-Real layout: real 7x7 stem and
#   1x1 downsample shortcuts, a shortcut around every binary 3x3 conv,
#   Hardtanh) and the FPN convs -- mode 'backbone+neck'. Real: every BN, the
#   RPN and RoI heads (their prediction layers stay real).
# Binarization: DIR-Net's (_base_/binary/dirnet.py: IMB weights, sign
#   activations, DTE gradients on the two-stage schedule).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
          './_base_/mmbnn.py', './_base_/binary/dirnet.py']

binarized = 'backbone+neck'

model = dict(
    backbone=dict(
        _delete_=True,
        type='BiRealResNet',
        depth=18,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        conv_cfg=_base_.dirnet_conv,
        norm_cfg=dict(type='BN', requires_grad=True),
        act_cfg=dict(type='Hardtanh'),
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], conv_cfg=_base_.dirnet_conv,
              norm_cfg=dict(type='BN')))

custom_hooks = [_base_.dte_scheduler]

dataset_type = 'CheckedCocoDataset'
train_dataloader = dict(dataset=dict(type=dataset_type))
val_dataloader = dict(dataset=dict(type=dataset_type))
test_dataloader = val_dataloader
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=dict(max_norm=10.0))
