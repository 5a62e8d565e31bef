# The full-precision counterpart of bnn_ssd300_voc.py: the same network
# (VGG16 with BN) with binarization switched off and ReLU activations (without
# the sign, a network with no activation would be linear). Also the RBD teacher.
_base_ = ['./bnn_ssd300_voc.py']
binarized = 'none'
model = dict(
    backbone=dict(conv_cfg=dict(type='BinaryConv2d', binarize='none'),
                  act_cfg=dict(_delete_=True, type='ReLU')),
    neck=dict(conv_cfg=dict(type='BinaryConv2d', binarize='none'),
              act_cfg=dict(_delete_=True, type='ReLU')))
