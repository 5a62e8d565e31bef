# AdamBNN's ablation of the two-step order (docs/methods.md 3.1): weights first
# (real activations), then both; otherwise as two_step.py.
train_steps = [
    dict(binarize='weights', weight_decay=5e-6),
    dict(binarize='both', weight_decay=0.0),
]
