# The plain baseline: sign weights (no balancing, no scale), sign
# activations and the clipped straight-through estimator for both; no
# (k, t) schedule.
sign_ste_conv = dict(type='BinaryConv2d', binarize='both',
                     weight_binarizer='sign', activation_binarizer='sign',
                     weight_estimator='ste', activation_estimator='ste')
