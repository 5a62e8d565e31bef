# The full-precision counterpart of bnn_faster-rcnn_r18_fpn_1x_coco.py: the
# same network with binarization switched off (also the RBD teacher).
_base_ = ['./bnn_faster-rcnn_r18_fpn_1x_coco.py']
binarized = 'none'
model = dict(
    backbone=dict(conv_cfg=dict(type='BinaryConv2d', binarize='none')),
    neck=dict(conv_cfg=dict(type='BinaryConv2d', binarize='none')))
