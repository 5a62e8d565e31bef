# DIR-Net SSD300 on VOC07+12 trainval, tested on VOC07 test (11-point mAP).
# Binary: VGG16 backbone (BiDet's layout: BN after every binary conv, L2Norm
#   on conv4_3, dilated fc6) and the SSD extra layers (neck) -- mode
#   'backbone+neck'. Real: the stem conv (conv1_1), every BN, the head's
#   classification/regression prediction convs.
# Binarization: DIR-Net's (_base_/binary/dirnet.py: IMB weights, sign
#   activations, DTE gradients on the two-stage schedule).
# Start the backbone from a binary ImageNet checkpoint with
#   --cfg-options model.backbone.init_cfg.type=Pretrained \
#                 model.backbone.init_cfg.checkpoint=checkpoints/<file>.pth
_base_ = ['mmdet::pascal_voc/ssd300_voc0712.py', './_base_/mmbnn.py',
          './_base_/binary/dirnet.py']

binarized = 'backbone+neck'
# No activation between BN and the next sign (a ReLU would make every sign +1;
# Hardtanh's zero gradient beyond 1 starves a VGG without shortcuts: see
# docs/benchmarks.md). shortcuts=True adds Bi-Real shortcuts [choice].
binary_act = None

model = dict(
    backbone=dict(
        _delete_=True,
        type='SSDVGGBN',
        widen_factor=1.0,
        conv_cfg=_base_.dirnet_conv,
        norm_cfg=dict(type='BN'),
        act_cfg=binary_act,
        fc6_dilation=6,
        shortcuts=False,
        out_features=('conv4_3', 'fc7')),
    neck=dict(conv_cfg=_base_.dirnet_conv, norm_cfg=dict(type='BN'),
              act_cfg=binary_act))

custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    _base_.dte_scheduler,
]

# Same data as the stock config, read through the checked dataset class.
dataset_type = 'CheckedVOCDataset'
data_root = 'data/VOCdevkit/'
train_dataloader = dict(
    dataset=dict(
        dataset=dict(datasets=[
            dict(type=dataset_type, data_root=data_root,
                 ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline={{_base_.train_pipeline}}),
            dict(type=dataset_type, data_root=data_root,
                 ann_file='VOC2012/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2012/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline={{_base_.train_pipeline}}),
        ])))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
# Binary nets train with Adam (AdamBNN); lr for batch 8 x 8 GPUs.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0))
