"""The built-in demo, the papers' pipeline in miniature: write the generated
data sets if absent; pretrain the binary backbone as a classifier on the
ImageNet-layout set; train the full-precision SSD (also the teacher); train
the BNN SSD (IMB weights, DTE gradients) from the pretrained binary backbone
with RBD distillation from the FP SSD; evaluate both with VOC07 mAP and draw
the BNN's detections.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/synthetic]
"""
import argparse
import os.path as osp
import sys
import time

TOOLS = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, TOOLS)
from experiments.harness import (  # noqa: E402
    DEMO_IMAGENET, DEMO_VOC, ensure_imagenet, ensure_voc,
    pretrain_then_distill)

# The demo BNN's top score per image is about 0.15 (median), under mmdet's
# drawing threshold of 0.3: draw what it ranks, not nothing.
DRAW_SCORE_THR = 0.1
NAMES = dict(backbone='binary VGG16-w0.25 classifier (pretraining)',
             fp='SSD192 VGG16-w0.25, full precision',
             bnn='SSD192 VGG16-w0.25, BNN (IMB + DTE + RBD)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--data-root', default=osp.join('data', 'synthetic'))
    parser.add_argument('--epochs', type=int, default=None,
                        help="detector training epochs (default: the configs')")
    args = parser.parse_args(argv)

    start = time.time()
    ensure_voc(args.data_root, **DEMO_VOC)
    imagenet = osp.join(args.data_root, 'imagenet')
    ensure_imagenet(imagenet, **DEMO_IMAGENET)
    data_s = time.time() - start
    options = [] if args.epochs is None else [f'train_cfg.max_epochs={args.epochs}']
    results = pretrain_then_distill(
        args.work_dir, osp.join(args.data_root, 'VOCdevkit', ''),
        osp.join(imagenet, ''), options, show_dir='detections',
        show_score_thr=DRAW_SCORE_THR)

    print('\n' + '=' * 78)
    print(f'{"model":<46}{"metric":>22}{"train s":>10}')
    for step, result in results.items():
        metric = ('top-1 %' if step == 'backbone' else 'VOC07 mAP@0.5')
        print(f'{NAMES[step]:<46}{metric:>14}{result["metric"]:>8.4g}'
              f'{result["train_s"]:>10.0f}')
    ratio = results['bnn']['metric'] / max(results['fp']['metric'], 1e-9)
    print(f'BNN / FP mAP: {ratio:.2f}')
    print(f'total {time.time() - start:.0f} s (data {data_s:.0f} s); '
          f'checkpoints: {", ".join(r["checkpoint"] for r in results.values())}')
    if results['bnn']['drawn']:
        print(f'drawn detections (BNN, ground truth left, predictions '
              f'scoring >= {DRAW_SCORE_THR} right): {results["bnn"]["drawn"]}')
    print('=' * 78)


if __name__ == '__main__':
    main()
