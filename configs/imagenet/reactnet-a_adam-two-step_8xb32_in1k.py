# ReActNet-A, AdamBNN's recipe (docs/methods.md 3.1): Adam (lr 1.25e-3 for
# 8 x 32 images, linear decay to 0, L2 weight decay on conv kernels only) in
# two steps of 256 epochs: binary activations with real weights (weight decay
# 5e-6), then both binary (weight decay 0), distilled from a real ResNet-34.
# Baselines: reactnet-a_adam-one-step_8xb32_in1k.py, reactnet-a_sgd_8xb32_in1k.py.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/models/reactnet-a_kd-r34_in1k.py',
    '../_base_/schedules/bnn_adam_linear.py',
    '../_base_/two_step.py',
]
