# VGG16-BN (SSD's VGG16 with BN after every conv, dilated fc6, fc7) trained as
# an ImageNet classifier in full precision: the ImageNet backbone of
# ssd300_vgg16bn_fp_voc.py and the teacher of bnn_vgg16bn_8xb32_in1k.py. Its
# 'backbone.' keys are the detector's backbone keys (init_cfg Pretrained).
# Schedule [choice]: as bnn_resnet18-bireal_8xb32_in1k.py.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/mmbnn.py',
]

binarized = 'none'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='SSDVGGBN', out_features=('fc7', )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=1024,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
