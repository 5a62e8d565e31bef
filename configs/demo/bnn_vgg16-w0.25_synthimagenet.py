# Demo pretraining of the binary backbone: vgg16-w0.25_fp_synthimagenet.py
# with the demo BNN detector's binary VGG (IMB weights, sign activations, DTE
# gradients, Bi-Real shortcuts, no activation before a sign), trained from
# scratch. Its 'backbone.' weights initialize the BNN detector
# (bnn_ssd192_vgg16-w0.25_rbd_synthvoc.py).
_base_ = ['./vgg16-w0.25_fp_synthimagenet.py', '../_base_/binary/dirnet.py']
binarized = 'backbone'
model = dict(backbone=dict(conv_cfg=_base_.dirnet_conv, act_cfg=None,
                           shortcuts=True))
custom_hooks = [dict(type='EpochSeedHook'), _base_.dte_scheduler]
