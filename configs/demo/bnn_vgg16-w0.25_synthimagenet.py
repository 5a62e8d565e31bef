# Demo pretraining of the binary backbone: vgg16-w0.25_fp_synthimagenet.py
# with the demo BNN detector's binary VGG (IMB weights, sign activations, DTE
# gradients, Bi-Real shortcuts, no activation before a sign), trained from
# scratch at twice the FP lr: on the generated shape families it learned
# more that way (top-1 15.7%) than from the FP classifier's weights (10.0%
# at lr 1e-3, 11.3% at 5e-4, 12.3% with logit distillation from it; 8
# epochs each, 2026-12-02; configs/demo/README.md). Its 'backbone.' weights
# initialize the BNN detector (bnn_ssd192_vgg16-w0.25_rbd_synthvoc.py).
_base_ = ['./vgg16-w0.25_fp_synthimagenet.py', '../_base_/binary/dirnet.py']
binarized = 'backbone'
model = dict(backbone=dict(conv_cfg=_base_.dirnet_conv, act_cfg=None,
                           shortcuts=True))
optim_wrapper = dict(optimizer=dict(lr=2e-3))
custom_hooks = [dict(type='EpochSeedHook'), _base_.dte_scheduler]
