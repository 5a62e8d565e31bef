# The full-precision twin of bnn_faster-rcnn_r18-bireal_fpn_synthcoco.py: the
# same Bi-Real ResNet-18 + FPN, all real (as
# configs/faster-rcnn_r18-bireal_fpn_1x_coco_fp.py is to the full-size
# binary config). The binary one starts from its weights. Its backbone
# starts from the FP Bi-Real ResNet-18 classifier pretrained on the generated
# ImageNet-layout set (resnet18-bireal_fp_synthimagenet.py, 'backbone.'
# keys), as the SSD's from the VGG classifier;
# tools/experiments/recipe_benchmark.py trains it and passes its checkpoint.
_base_ = ['./bnn_faster-rcnn_r18-bireal_fpn_synthcoco.py']
binarized = 'none'
pretrained_backbone = 'work_dirs/recipes/fp_resnet_18_classifier/epoch_8.pth'
model = dict(backbone=dict(conv_cfg=None,
                           init_cfg=dict(_delete_=True, type='Pretrained',
                                         prefix='backbone.',
                                         checkpoint=pretrained_backbone)),
             neck=dict(conv_cfg=None))
custom_hooks = []
