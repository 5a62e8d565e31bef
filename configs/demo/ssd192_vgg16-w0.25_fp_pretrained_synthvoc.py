# The demo's FP SSD as the papers and mmdet's configs train it: the backbone
# starts from the FP classifier pretrained on the generated ImageNet-layout
# set (vgg16-w0.25_fp_synthimagenet.py: same SSDVGGBN, 'backbone.' keys);
# neck and head from scratch; 9 epochs, what the demo's 15 minutes leave it
# (its mAP still rose from 6 to 12: 0.102 -> 0.195 on 2026-12-02;
# tools/experiments/recipe_benchmark.py trains it longer). The demo's teacher (tools/demo.py passes the
# checkpoint it trained).
_base_ = ['./ssd192_vgg16-w0.25_fp_synthvoc.py']
pretrained_backbone = 'work_dirs/demo/fp_backbone/epoch_8.pth'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', prefix='backbone.',
                                         checkpoint=pretrained_backbone)))
max_epochs = 9
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         eta_min_ratio=0.01)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
