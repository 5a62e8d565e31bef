# bnn_vgg16-w0.25_synthimagenet.py trained with AdamBNN's logit distillation
# from its full-precision twin (vgg16-w0.25_fp_synthimagenet.py): loss
# -sum softmax(z_T) log_softmax(z_S), temperature 1, no label loss. Set the
# teacher with --cfg-options custom_hooks.2.teacher_checkpoint=<FP classifier>.
_base_ = ['./bnn_vgg16-w0.25_synthimagenet.py']
custom_hooks = [
    dict(type='EpochSeedHook'),
    _base_.dte_scheduler,
    dict(type='LogitDistillationHook',
         teacher_config='configs/demo/vgg16-w0.25_fp_synthimagenet.py',
         teacher_checkpoint='work_dirs/demo/backbone_fp/epoch_8.pth',
         temperature=1.0, label_loss_weight=0.0, loss_weight=1.0),
]
