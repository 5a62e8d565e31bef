# Baseline for bnn_faster-rcnn_r18_fpn_1x_coco.py: plain sign weights and the
# clipped straight-through estimator, no (k, t) schedule.
_base_ = ['./bnn_faster-rcnn_r18_fpn_1x_coco.py', './_base_/binary/sign_ste.py']
model = dict(backbone=dict(conv_cfg=_base_.sign_ste_conv),
             neck=dict(conv_cfg=_base_.sign_ste_conv))
custom_hooks = []
