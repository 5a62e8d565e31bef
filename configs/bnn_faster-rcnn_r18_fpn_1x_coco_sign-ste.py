# Baseline for bnn_faster-rcnn_r18_fpn_1x_coco.py: plain sign weights and the
# clipped straight-through estimator, no (k, t) schedule.
_base_ = ['./bnn_faster-rcnn_r18_fpn_1x_coco.py']
binary_conv = dict(type='BinaryConv2d', binarize='both', weight_binarizer='sign',
                   weight_estimator='ste', activation_estimator='ste')
model = dict(backbone=dict(conv_cfg=binary_conv), neck=dict(conv_cfg=binary_conv))
custom_hooks = []
