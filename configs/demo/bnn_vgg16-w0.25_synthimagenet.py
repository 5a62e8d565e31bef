# Demo pretraining of the binary backbone: vgg16-w0.25_fp_synthimagenet.py
# with the demo BNN detector's binary VGG (IMB weights, sign activations, DTE
# gradients, Bi-Real shortcuts, no activation before a sign), trained from
# scratch. Its 'backbone.' weights initialize the BNN detector
# (bnn_ssd192_vgg16-w0.25_rbd_synthvoc.py).
_base_ = ['./vgg16-w0.25_fp_synthimagenet.py']
binarized = 'backbone'
binary_conv = dict(type='BinaryConv2d', binarize='both', weight_binarizer='imb',
                   weight_estimator='dte', activation_estimator='dte')
model = dict(backbone=dict(conv_cfg=binary_conv, act_cfg=None, shortcuts=True))
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='BinarySchedulerHook', schedule='dte', t_min=0.1, t_max=10.0,
         log_interval=10),
]
