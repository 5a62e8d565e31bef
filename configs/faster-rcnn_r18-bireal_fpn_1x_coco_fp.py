# The full-precision counterpart of bnn_faster-rcnn_r18_fpn_1x_coco.py: the
# same network with real convs (also the RBD teacher).
_base_ = ['./bnn_faster-rcnn_r18_fpn_1x_coco.py']
binarized = 'none'
model = dict(backbone=dict(conv_cfg=None), neck=dict(conv_cfg=None))
custom_hooks = []
