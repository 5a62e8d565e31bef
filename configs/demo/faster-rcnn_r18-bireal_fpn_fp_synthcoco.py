# The full-precision twin of bnn_faster-rcnn_r18-bireal_fpn_synthcoco.py: the
# same Bi-Real ResNet-18 + FPN, all real (as
# configs/faster-rcnn_r18-bireal_fpn_1x_coco_fp.py is to the full-size
# binary config). The binary one starts from its weights.
_base_ = ['./bnn_faster-rcnn_r18-bireal_fpn_synthcoco.py']
binarized = 'none'
model = dict(backbone=dict(conv_cfg=None), neck=dict(conv_cfg=None))
custom_hooks = []
