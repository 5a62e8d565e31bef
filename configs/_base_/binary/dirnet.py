# DIR-Net's binarization (docs/methods.md 1.1-1.2): IMB weights (balanced,
# standardized, power-of-two scaled sign), sign activations, DTE gradients
# whose (k, t) follow the two-stage schedule over training progress, set per
# iteration by the scheduler hook (stage 1: k = 1/t while t grows from t_min
# to 1; stage 2: k = 1 up to t_max). A config binarizes a part with
# conv_cfg=_base_.dirnet_conv and lists _base_.dte_scheduler in its hooks.
dirnet_conv = dict(type='BinaryConv2d', binarize='both',
                   weight_binarizer='imb', activation_binarizer='sign',
                   weight_estimator='dte', activation_estimator='dte')
dte_scheduler = dict(type='BinarySchedulerHook', schedule='dte', t_min=0.1,
                     t_max=10.0)
