# Full-precision twin of bnn_resnet20-bireal_b128_cifar10.py (RBD / KD teacher).
_base_ = ['./bnn_resnet20-bireal_b128_cifar10.py']
binarized = 'none'
model = dict(backbone=dict(conv_cfg=None))
custom_hooks = []
