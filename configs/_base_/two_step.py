# AdamBNN's two-step training (docs/methods.md 3.1), activations first: step 1
# binarizes activations only (real weights, weight decay 5e-6), step 2
# binarizes both (weight decay 0), starting from step 1's final weights, each
# with a fresh optimizer and LR schedule (tools/train.py runs both; see
# mmbnn/engine/train_steps.py). The reverse order is two_step_weights_first.py;
# one-step training sets `train_steps = None`.
train_steps = [
    dict(binarize='activations', weight_decay=5e-6),
    dict(binarize='both', weight_decay=0.0),
]
