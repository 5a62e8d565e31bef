# AdamBNN's one-step baseline: ReActNet-A binary from the start (weights and
# activations) for 256 epochs, Adam with weight decay 5e-6 on conv kernels,
# distilled from a real ResNet-34.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/models/reactnet-a_kd-r34_in1k.py',
    '../_base_/schedules/bnn_adam_linear.py',
]
