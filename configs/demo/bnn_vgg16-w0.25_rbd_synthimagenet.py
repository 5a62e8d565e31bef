# bnn_vgg16-w0.25_synthimagenet.py with DIR-Net's RBD from its full-precision
# twin (vgg16-w0.25_fp_synthimagenet.py) on every binary block. Set the
# teacher with --cfg-options custom_hooks.2.teacher_checkpoint=<FP classifier>.
_base_ = ['./bnn_vgg16-w0.25_synthimagenet.py']
custom_hooks = [
    dict(type='EpochSeedHook'),
    _base_.dte_scheduler,
    dict(type='RBDHook', teacher_config='configs/demo/vgg16-w0.25_fp_synthimagenet.py',
         teacher_checkpoint='work_dirs/demo/backbone_fp/epoch_8.pth',
         loss_weight=1.0),
]
