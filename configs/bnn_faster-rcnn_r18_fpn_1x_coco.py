# DIR-Net Faster R-CNN on COCO (train2017 -> val2017, bbox mAP).
# Binary: the ResNet-18 backbone (IR-Net / Bi-Real layout: real 7x7 stem and
#   1x1 downsample shortcuts, a shortcut around every binary 3x3 conv,
#   Hardtanh) and the FPN convs -- mode 'backbone+neck'. Real: every BN, the
#   RPN and RoI heads (their prediction layers stay real).
# Weights: IMB; activations: sign; gradients: DTE (see bnn_ssd300_voc.py).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmbnn'], allow_failed_imports=False)

binarized = 'backbone+neck'
binary_conv = dict(
    type='BinaryConv2d',
    binarize='both',
    weight_binarizer='imb',
    activation_binarizer='sign',
    weight_estimator='dte',
    activation_estimator='dte',
    epsilon=0.1,
    delta=0.1)

model = dict(
    backbone=dict(
        _delete_=True,
        type='BiRealResNet',
        depth=18,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        conv_cfg=binary_conv,
        norm_cfg=dict(type='BN', requires_grad=True),
        act_cfg=dict(type='Hardtanh'),
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], conv_cfg=binary_conv,
              norm_cfg=dict(type='BN')))

custom_hooks = [
    dict(type='BinarySchedulerHook', schedule='dte', t_min=0.1, t_max=10.0,
         boundary=None, by_epoch=False, log_interval=50),
]

dataset_type = 'CheckedCocoDataset'
train_dataloader = dict(dataset=dict(type=dataset_type))
val_dataloader = dict(dataset=dict(type=dataset_type))
test_dataloader = val_dataloader
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=dict(max_norm=10.0))
