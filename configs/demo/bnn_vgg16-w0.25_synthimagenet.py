# Demo pretraining of the binary backbone: vgg16-w0.25_fp_synthimagenet.py
# with the demo BNN detector's binary VGG (IMB weights, sign activations, DTE
# gradients, no activation before a sign), trained from scratch at twice the
# FP lr. Bi-Real shortcuts around every binary conv, the widening ones'
# repeating the input (duplicate_shortcuts), and a BN after each pool (from
# the FP base): without the pools' BN a sign behind a pool reads +1 almost
# everywhere and the binary classifier stays near chance (13-19% top-1 in
# every variant tried, configs/demo/README.md). It learns more slowly than the
# FP one: 13 epochs (as many as the demo's 15 minutes allow). Its 'backbone.' weights initialize the BNN detector
# (bnn_ssd192_vgg16-w0.25_rbd_synthvoc.py).
_base_ = ['./vgg16-w0.25_fp_synthimagenet.py', '../_base_/binary/dirnet.py']
binarized = 'backbone'
model = dict(backbone=dict(conv_cfg=_base_.dirnet_conv, act_cfg=None,
                           shortcuts=True, duplicate_shortcuts=True))
optim_wrapper = dict(optimizer=dict(lr=2e-3))
max_epochs = 13
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         eta_min_ratio=0.01),
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
custom_hooks = [dict(type='EpochSeedHook'), _base_.dte_scheduler]
