# The full-precision counterpart of bnn_ssd300_voc.py: the same network
# (VGG16 with BN, Hardtanh) with binarization switched off. Also the RBD teacher.
_base_ = ['./bnn_ssd300_voc.py']
binarized = 'none'
model = dict(
    backbone=dict(conv_cfg=dict(type='BinaryConv2d', binarize='none')),
    neck=dict(conv_cfg=dict(type='BinaryConv2d', binarize='none')))
