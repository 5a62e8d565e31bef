# Full-precision twin of bnn_resnet34-bireal_8xb32_in1k.py (RBD / KD teacher).
_base_ = ['./resnet18-bireal_fp_8xb32_in1k.py']
model = dict(backbone=dict(depth=34))
