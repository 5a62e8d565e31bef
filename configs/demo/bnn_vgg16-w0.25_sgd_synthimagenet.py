# The SGD baseline of bnn_vgg16-w0.25_adam-two-step_synthimagenet.py (AdamBNN's
# comparison, docs/methods.md 3.1): the same two steps and conv-only weight decay
# with SGD (momentum 0.9, lr 0.05 for batch 32) and cosine decay to 0 in each
# step instead of Adam and linear decay.
_base_ = ['./bnn_vgg16-w0.25_adam-two-step_synthimagenet.py']
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='SGD', lr=0.05, momentum=0.9,
                   weight_decay=5e-6))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True,
         convert_to_iter_based=True),
]
