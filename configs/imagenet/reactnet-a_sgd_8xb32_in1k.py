# AdamBNN's SGD baseline: reactnet-a_adam-two-step_8xb32_in1k.py with SGD
# (momentum 0.9, lr 0.1 for 8 x 32 images, cosine decay to 0) instead of
# Adam; same two steps, conv-only weight decay and distillation.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/models/reactnet-a_kd-r34_in1k.py',
    '../_base_/schedules/bnn_sgd_cosine.py',
    '../_base_/two_step.py',
]
