# The demo-size binary Faster R-CNN: the demo Faster R-CNN
# (faster-rcnn_r18_fpn_fp_synthcoco.py: 64-channel FPN, 320 px, the generated
# COCO-format scenes) with the Bi-Real ResNet-18 (a shortcut around every 3x3
# conv, real 1x1 downsample shortcuts, Hardtanh) and DIR-Net's binarization
# (IMB weights, sign activations, DTE gradients on the two-stage schedule) in
# the backbone and the FPN convs, as configs/bnn_faster-rcnn_r18_fpn_1x_coco.py
# at full size; the stem, the downsample shortcuts, every BN and the RPN and
# RoI heads stay real. Its FP twin: faster-rcnn_r18-bireal_fpn_fp_synthcoco.py.
# As BNNs usually do, it starts from the twin's weights
# (--cfg-options load_from=<FP twin checkpoint>;
# tools/experiments/recipe_benchmark.py passes it).
_base_ = ['./faster-rcnn_r18_fpn_fp_synthcoco.py',
          '../_base_/binary/dirnet.py']
binarized = 'backbone+neck'
model = dict(
    backbone=dict(
        _delete_=True,
        type='BiRealResNet',
        depth=18,
        out_indices=(0, 1, 2, 3),
        conv_cfg=_base_.dirnet_conv,
        norm_cfg=dict(type='BN', requires_grad=True),
        act_cfg=dict(type='Hardtanh'),
        init_cfg=None),
    neck=dict(conv_cfg=_base_.dirnet_conv))
custom_hooks = [_base_.dte_scheduler]
