# AdamBNN's two-step recipe (docs/methods.md 3.1) on the demo's binary VGG
# classifier (bnn_vgg16-w0.25_synthimagenet.py): Adam with coupled L2 weight
# decay on conv kernels only and the LR decaying linearly to 0 in each step;
# step 1 (4 epochs) binarizes activations only, weight decay 5e-6; step 2
# (4 epochs) binarizes weights too, from step 1's weights, weight decay 0.
# BNNDiagnosticsHook writes FF, C2I, saturation and latent-weight figures to
# each step's log directory. One-step: --cfg-options train_steps=None.
_base_ = ['./bnn_vgg16-w0.25_synthimagenet.py']
optim_wrapper = dict(
    constructor='ConvDecayOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=2e-3, betas=(0.9, 0.999), weight_decay=5e-6))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         convert_to_iter_based=True),
]
train_steps = [
    dict(binarize='activations', max_epochs=4, weight_decay=5e-6),
    dict(binarize='both', max_epochs=4, weight_decay=0.0),
]
custom_hooks = [
    dict(type='EpochSeedHook'),
    _base_.dte_scheduler,
    dict(type='BNNDiagnosticsHook'),
]
