# Baseline for bnn_ssd300_voc.py: plain sign weights (no balancing, no scale)
# and the clipped straight-through estimator, no (k, t) schedule.
_base_ = ['./bnn_ssd300_voc.py', './_base_/binary/sign_ste.py']
model = dict(backbone=dict(conv_cfg=_base_.sign_ste_conv),
             neck=dict(conv_cfg=_base_.sign_ste_conv))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
]
