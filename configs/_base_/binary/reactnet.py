# ReActNet's (and AdamBNN's) binarization (docs/methods.md 3.3): XNOR-scaled
# weights (alpha_c = mean|w_c|, clipped-STE backward), sign activations with
# ApproxSign backward (after the blocks' learnable RSign shift); no schedule.
reactnet_conv = dict(type='BinaryConv2d', binarize='both',
                     weight_binarizer='xnor', activation_binarizer='sign',
                     weight_estimator='ste', activation_estimator='approx')
