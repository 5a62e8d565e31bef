# The binary demo: ssd192_vgg16-w0.25_fp_synthvoc.py with DIR-Net's binary
# backbone and neck (IMB weights, sign activations, DTE gradients). As BNNs
# usually are, it starts from real-valued weights: tools/demo.py passes the FP
# demo's checkpoint (--cfg-options load_from=...); without one it trains from
# scratch, which needs a much longer schedule.
_base_ = ['./ssd192_vgg16-w0.25_fp_synthvoc.py', '../_base_/binary/dirnet.py']
binarized = 'backbone+neck'
# No activation between BN and the next layer's sign: the sign is the
# non-linearity (a ReLU would make every sign +1, and Hardtanh's zero gradient
# beyond |x| = 1 starves a deep VGG). Bi-Real shortcuts around every binary
# conv (around the widening ones the input repeated along channels) carry
# real values past each sign, and a BN after each pool (from the FP base)
# centres what the sign behind it reads (configs/demo/README.md).
model = dict(
    backbone=dict(conv_cfg=_base_.dirnet_conv, act_cfg=None, shortcuts=True,
                  duplicate_shortcuts=True),
    neck=dict(conv_cfg=_base_.dirnet_conv, act_cfg=None))
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='NumClassCheckHook'),
    _base_.dte_scheduler,
]
