# As bnn_faster-rcnn_r18_fpn_1x_coco.py with only the backbone binarized:
# the FPN is real-valued.
_base_ = ['./bnn_faster-rcnn_r18_fpn_1x_coco.py']
binarized = 'backbone'
model = dict(neck=dict(conv_cfg=None, norm_cfg=None))
