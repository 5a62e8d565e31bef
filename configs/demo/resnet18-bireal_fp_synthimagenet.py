# The demo Faster R-CNN's backbone pretrained, full precision: the Bi-Real
# ResNet-18 of faster-rcnn_r18-bireal_fpn_fp_synthcoco.py (same parameter
# names) as an ImageNet-style classifier on the generated ImageNet-layout set,
# as vgg16-w0.25_fp_synthimagenet.py is for the SSD's VGG. The FP Faster
# R-CNN starts from its 'backbone.' weights, as mmdet's configs start from
# ImageNet ones; from scratch it learned almost nothing in the recipe
# benchmark's 8 epochs (0.010 COCO mAP, 2026-12-05).
_base_ = ['./vgg16-w0.25_fp_synthimagenet.py']
model = dict(
    # conv_cfg None: real convs (BiRealResNet's default is binary).
    backbone=dict(_delete_=True, type='BiRealResNet', depth=18,
                  out_indices=(3, ), conv_cfg=None,
                  act_cfg=dict(type='Hardtanh')),
    head=dict(in_channels=512))
