# The full-precision counterpart of bnn_ssd300_voc.py: the same network
# (VGG16 with BN) with real convs and ReLU activations (without the sign, a
# network with no activation would be linear). Also the RBD teacher.
_base_ = ['./bnn_ssd300_voc.py']
binarized = 'none'
model = dict(
    backbone=dict(conv_cfg=None, act_cfg=dict(_delete_=True, type='ReLU')),
    neck=dict(conv_cfg=None, act_cfg=dict(_delete_=True, type='ReLU')))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
]
