# The demo: SSD with a quarter-width VGG16 (BN after every conv) at 192 px,
# full precision, trained from scratch on the generated VOC-format scenes
# (python tools/misc/generate_data.py voc --out data/synthetic) and evaluated
# with VOC07 11-point mAP. Sized to train and evaluate in minutes on 2 CPU
# cores: SSD300's layout with five levels (24, 12, 6, 3, 1) instead of six.
_base_ = ['mmdet::pascal_voc/ssd300_voc0712.py', '../_base_/mmbnn.py']

input_size = 192
channels = [128, 256, 128, 64, 64]  # VGG16 x 0.25: conv4_3, fc7, extra layers
model = dict(
    backbone=dict(
        _delete_=True,
        type='SSDVGGBN',
        widen_factor=0.25,
        norm_cfg=dict(type='BN'),
        pool_norm=True,  # as the demo's classifiers (SSDVGGBN's docstring)
        out_features=('conv4_3', 'fc7')),
    neck=dict(
        in_channels=channels[:2],
        out_channels=channels,
        level_strides=(2, 2, 1),
        level_paddings=(1, 1, 0),
        norm_cfg=dict(type='BN')),
    bbox_head=dict(
        in_channels=channels,
        anchor_generator=dict(
            _delete_=True,
            type='SSDAnchorGenerator',
            scale_major=False,
            input_size=input_size,
            strides=[8, 16, 32, 64, 192],
            ratios=[[2], [2, 3], [2, 3], [2], [2]],
            min_sizes=[14, 32, 64, 104, 144],
            max_sizes=[32, 64, 104, 144, 192])))

dataset_type = 'CheckedVOCDataset'
data_root = 'data/synthetic/VOCdevkit/'
# SSD300's pipeline without its zoom-out (Expand) and IoU crop: the
# generated scenes already spread object sizes and positions as VOC does,
# and at the demo's length the two only slowed learning (FP SSD from the
# pretrained backbone, 9 epochs, one run each, 2026-12-05: 0.145 mAP with
# both, 0.164 without Expand, 0.259 without either; configs/demo/README.md).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32,
         contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
# Workers restart each epoch so that EpochSeedHook can seed them: a resumed
# run then replays every epoch exactly.
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        type='RepeatDataset',
        times=1,
        dataset=dict(
            type='ConcatDataset',
            ignore_keys=['dataset_type'],
            datasets=[
                dict(type=dataset_type, data_root=data_root,
                     ann_file='VOC2007/ImageSets/Main/trainval.txt',
                     data_prefix=dict(sub_data_root='VOC2007/'),
                     filter_cfg=dict(filter_empty_gt=True, min_size=8),
                     pipeline=train_pipeline),
                dict(type=dataset_type, data_root=data_root,
                     ann_file='VOC2012/ImageSets/Main/trainval.txt',
                     data_prefix=dict(sub_data_root='VOC2012/'),
                     filter_cfg=dict(filter_empty_gt=True, min_size=8),
                     pipeline=train_pipeline),
            ])))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='VOC2007/ImageSets/Main/test.txt',
                 data_prefix=dict(sub_data_root='VOC2007/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 6
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=max_epochs)
# Adam trains this small from-scratch model faster than SSD's SGD recipe.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         eta_min_ratio=0.01)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
# Each epoch's augmentation is a function of (seed, epoch): a run killed and
# resumed from its last checkpoint ends with the same weights.
custom_hooks = [dict(type='EpochSeedHook')]
