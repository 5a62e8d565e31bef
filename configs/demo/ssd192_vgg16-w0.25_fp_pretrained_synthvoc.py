# The demo's FP SSD as the papers and mmdet's configs train it: the backbone
# starts from the FP classifier pretrained on the generated ImageNet-layout
# set (vgg16-w0.25_fp_synthimagenet.py: same SSDVGGBN, 'backbone.' keys);
# neck and head from scratch; 12 epochs, what the demo's 15 minutes leave it
# (2026-12-05, without Expand and IoU crop: 0.259 / 0.245 mAP at 9 epochs,
# two seeds, 0.313 at 12; tools/experiments/recipe_benchmark.py trains it
# longer). The demo's teacher (tools/demo.py passes the
# checkpoint it trained), hence the BNN's FP twin: the same Bi-Real
# shortcuts (parameter-free: the FP classifier's weights load as they are),
# ReLUs where the BNN has its signs. RBD aligns the BNN's block outputs,
# sums carried by those shortcuts, with the teacher's: from a teacher
# without them RBD cost the BNN mAP, from this one it helped
# (docs/benchmarks.md, "RBD's teacher and weight").
_base_ = ['./ssd192_vgg16-w0.25_fp_synthvoc.py']
pretrained_backbone = 'work_dirs/demo/fp_backbone/epoch_8.pth'
model = dict(backbone=dict(shortcuts=True, duplicate_shortcuts=True,
                           init_cfg=dict(type='Pretrained', prefix='backbone.',
                                         checkpoint=pretrained_backbone)))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         eta_min_ratio=0.01)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
