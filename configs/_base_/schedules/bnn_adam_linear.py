# AdamBNN's optimizer (docs/methods.md 3.1): Adam, betas (0.9, 0.999), lr 1.25e-3
# for a total batch of 256, coupled L2 weight decay (not AdamW) on conv
# kernels only (ndim == 4; none on BN, RSign/RPReLU, biases, FC), and the LR
# decaying linearly to 0 over the run, updated every iteration. The LinearLR
# has no `end`: mmengine then spans the whole run, so each step of two-step
# training gets its own full decay. Switch to SGD with
# bnn_sgd_cosine.py.
optim_wrapper = dict(
    constructor='ConvDecayOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=1.25e-3, betas=(0.9, 0.999),
                   weight_decay=5e-6))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=256, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
