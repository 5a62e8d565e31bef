# ReActNet-A for ImageNet-1k as AdamBNN trains it (docs/methods.md 3.1, 3.3):
# MobileNetV1-shaped, 13 blocks of RSign -> binary conv -> BN -> shortcut ->
# RPReLU; XNOR-scaled weights (alpha_c = mean|w_c|, clip-STE backward), sign
# activations (ApproxSign backward); real stem and FC. Loss: distillation
# from a real ResNet-34's logits (temperature 1), no label loss. Train the
# teacher first (configs/imagenet/resnet34-bireal_fp_8xb32_in1k.py), or
# point custom_hooks.0.teacher_checkpoint at yours. Diagnostics (FF, C2I,
# saturation, latent weights) are written to the log directory.
_base_ = ['../mmbnn.py', '../binary/reactnet.py']
binarized = 'backbone'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ReActNetA', out_indices=(4, ),
                  conv_cfg=_base_.reactnet_conv),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=1024,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
custom_hooks = [
    dict(type='LogitDistillationHook',
         teacher_config='configs/imagenet/resnet34-bireal_fp_8xb32_in1k.py',
         teacher_checkpoint='work_dirs/resnet34-bireal_fp_8xb32_in1k/epoch_100.pth',
         temperature=1.0, label_loss_weight=0.0, loss_weight=1.0),
    dict(type='BNNDiagnosticsHook'),
]
