# The demo BNN detector (bnn_ssd192_vgg16-w0.25_rbd_synthvoc.py: pretrained
# binary backbone, FP neck/head, RBD from the FP detector) trained with
# AdamBNN's recipe (docs/methods.md 3.1) in the same 8 epochs: Adam with coupled
# L2 weight decay on conv kernels only; step 1 (4 epochs) binarizes
# activations only (weight decay 5e-6), step 2 (4 epochs) binarizes weights
# too (weight decay 0), each with a 100-iteration warm-up and a linear decay
# to 0. BNNDiagnosticsHook records FF and C2I of each step.
_base_ = ['./bnn_ssd192_vgg16-w0.25_rbd_synthvoc.py']
optim_wrapper = dict(
    constructor='ConvDecayOptimWrapperConstructor',
    optimizer=dict(_delete_=True, type='Adam', lr=2e-3, betas=(0.9, 0.999),
                   weight_decay=5e-6))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         convert_to_iter_based=True),
]
train_steps = [
    dict(binarize='activations', max_epochs=4, weight_decay=5e-6,
         cfg_options={'train_cfg.val_interval': 4,
                      'default_hooks.checkpoint.interval': 4}),
    dict(binarize='both', max_epochs=4, weight_decay=0.0,
         cfg_options={'train_cfg.val_interval': 4,
                      'default_hooks.checkpoint.interval': 4}),
]
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='NumClassCheckHook'),
    _base_.dte_scheduler,
    dict(type='RBDHook',
         teacher_config=_base_.fp_teacher_config,
         teacher_checkpoint=_base_.fp_detector, layers=None,
         loss_weight=1.0),
    dict(type='BNNDiagnosticsHook'),
]
