# Binary VGG-Small on CIFAR-10 (IR-Net): real 3->128 conv, binary 128-128,
# 128-256, 256-256, 256-512, 512-512 convs (IMB + sign + DTE), max-pools,
# BN and Hardtanh, real FC.
# Schedule [choice]: as bnn_resnet20-bireal_b128_cifar10.py.
_base_ = ['./bnn_resnet20-bireal_b128_cifar10.py']
model = dict(
    backbone=dict(_delete_=True, type='VGGSmall', conv_cfg=_base_.dirnet_conv,
                  act_cfg=dict(type='Hardtanh')),
    head=dict(in_channels=512))
