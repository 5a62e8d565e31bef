# The SGD baseline of AdamBNN's comparison (docs/methods.md 3.1): SGD with momentum
# 0.9, lr 0.1 for a total batch of 256, cosine decay to 0 over the run
# (every iteration); the same conv-only weight decay as bnn_adam_linear.py,
# so a comparison changes the optimizer alone.
optim_wrapper = dict(
    constructor='ConvDecayOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-6))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=256, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
