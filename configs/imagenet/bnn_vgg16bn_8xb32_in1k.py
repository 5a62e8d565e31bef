# The binary VGG16-BN of bnn_ssd300_voc.py (conv1_1 real, every other conv
# binary with DIR-Net's binarization; BN after every conv; no activation
# between BN and the next sign, as in the SSD configs) trained as an ImageNet
# classifier, so that the SSD starts from a binary backbone pretrained on
# ImageNet (BiDet's protocol). Full-precision twin: vgg16bn_fp_8xb32_in1k.py.
_base_ = ['./vgg16bn_fp_8xb32_in1k.py', '../_base_/binary/dirnet.py']
binarized = 'backbone'
model = dict(backbone=dict(conv_cfg=_base_.dirnet_conv, act_cfg=None))
custom_hooks = [_base_.dte_scheduler]
