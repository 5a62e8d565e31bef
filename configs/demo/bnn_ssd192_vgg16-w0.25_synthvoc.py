# The binary demo: ssd192_vgg16-w0.25_fp_synthvoc.py with DIR-Net's binary
# backbone and neck (IMB weights, sign activations, DTE gradients, Hardtanh).
_base_ = ['./ssd192_vgg16-w0.25_fp_synthvoc.py']
binarized = 'backbone+neck'
binary_conv = dict(type='BinaryConv2d', binarize='both', weight_binarizer='imb',
                   weight_estimator='dte', activation_estimator='dte')
model = dict(
    backbone=dict(conv_cfg=binary_conv, act_cfg=dict(type='Hardtanh')),
    neck=dict(conv_cfg=binary_conv, act_cfg=dict(type='Hardtanh')))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='BinarySchedulerHook', schedule='dte', t_min=0.1, t_max=10.0,
         log_interval=10),
]
