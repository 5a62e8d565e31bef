# Full-precision twin of bnn_resnet18-bireal_8xb32_in1k.py: the same Bi-Real
# ResNet-18 (same parameter names) with real convs; the teacher for RBD and
# logit distillation.
_base_ = ['./bnn_resnet18-bireal_8xb32_in1k.py']
binarized = 'none'
model = dict(backbone=dict(conv_cfg=None))
custom_hooks = []
