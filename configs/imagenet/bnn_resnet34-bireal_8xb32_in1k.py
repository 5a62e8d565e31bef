# Binary ResNet-34 on ImageNet-1k: bnn_resnet18-bireal_8xb32_in1k.py with
# [3, 4, 6, 3] blocks.
_base_ = ['./bnn_resnet18-bireal_8xb32_in1k.py']
model = dict(backbone=dict(depth=34))
