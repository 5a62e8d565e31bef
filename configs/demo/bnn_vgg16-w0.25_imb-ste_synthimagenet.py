# The demo's binary pretraining (tools/demo.py step 2, the recipe benchmark's
# binary classifier): bnn_vgg16-w0.25_synthimagenet.py (IMB weights, sign
# activations, shortcuts, a BN after each pool) with STE gradients for
# weights and activations instead of DTE. On this classifier, 13 epochs
# (2026-12-05, configs/demo/README.md): STE 40.7 / 42.7 / 40.0% top-1 (seeds
# 0-2), DTE 17.0 / 16.7% (seeds 0, 1), DTE at lr 1e-3 / 5e-4 / 2.5e-4 24.7 /
# 18.0 / 17.0%, DTE from the FP classifier's weights 19.7%. The BNN detector
# built on it keeps DIR-Net's IMB + DTE (bnn_ssd192_vgg16-w0.25_synthvoc.py).
_base_ = ['./bnn_vgg16-w0.25_synthimagenet.py']
model = dict(backbone=dict(conv_cfg=dict(weight_estimator='ste',
                                         activation_estimator='ste')))
# No BinarySchedulerHook: STE has no (k, t) schedule.
custom_hooks = [dict(type='EpochSeedHook')]
