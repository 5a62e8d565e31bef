# Baseline for bnn_ssd300_voc.py: plain sign weights (no balancing, no scale)
# and the clipped straight-through estimator, no (k, t) schedule.
_base_ = ['./bnn_ssd300_voc.py']
binary_conv = dict(type='BinaryConv2d', binarize='both', weight_binarizer='sign',
                   weight_estimator='ste', activation_estimator='ste')
model = dict(backbone=dict(conv_cfg=binary_conv), neck=dict(conv_cfg=binary_conv))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
]
