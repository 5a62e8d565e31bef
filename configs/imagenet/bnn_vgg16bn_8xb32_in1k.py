# The binary VGG16-BN of bnn_ssd300_voc.py (conv1_1 real, every other conv
# binary: IMB + sign + DTE; BN after every conv; no activation between BN and
# the next sign, as in the SSD configs) trained as an ImageNet classifier, so
# that the SSD starts from a binary backbone pretrained on ImageNet (BiDet's
# protocol). Full-precision twin: vgg16bn_fp_8xb32_in1k.py.
_base_ = ['./vgg16bn_fp_8xb32_in1k.py']
binarized = 'backbone'
binary_conv = dict(type='BinaryConv2d', binarize='both', weight_binarizer='imb',
                   weight_estimator='dte', activation_estimator='dte')
model = dict(backbone=dict(conv_cfg=binary_conv, act_cfg=None))
custom_hooks = [
    dict(type='BinarySchedulerHook', schedule='dte', t_min=0.1, t_max=10.0),
]
