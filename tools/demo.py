"""The built-in demo, the papers' pipeline in miniature: write the generated
data sets if absent; pretrain the FP backbone as a classifier on the
ImageNet-layout set, then the binary backbone from its weights; train the
full-precision SSD from the FP backbone (also the teacher); train the BNN
SSD (IMB weights, DTE gradients) from the binary backbone with RBD
distillation from the FP SSD; evaluate both with VOC07 mAP, draw the BNN's
detections and count the images whose top-scoring box is on an object.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/synthetic]
"""
import argparse
import os.path as osp
import pickle
import sys
import time

TOOLS = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, TOOLS)
from analysis_tools.top_box_hits import top_box_hits  # noqa: E402
from experiments.harness import (  # noqa: E402
    DEMO_IMAGENET, DEMO_VOC, ensure_imagenet, ensure_voc,
    pretrain_then_distill)
from mmbnn.datasets.synthetic import voc_class_names  # noqa: E402

# The demo BNN's top score per image is about 0.16 (median, 2026-12-02),
# under mmdet's drawing threshold of 0.3: draw what it ranks, not nothing.
DRAW_SCORE_THR = 0.1
NAMES = dict(fp_backbone='FP VGG16-w0.25 classifier (pretraining)',
             backbone='binary VGG16-w0.25 classifier, from scratch',
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
    # The length and everything set from it in the configs: the cosine's
    # end, the validation and checkpoint intervals.
    options = [] if args.epochs is None else [
        f'{key}={args.epochs}' for key in (
            'train_cfg.max_epochs', 'train_cfg.val_interval',
            'param_scheduler.1.end', 'default_hooks.checkpoint.interval')]
    results = pretrain_then_distill(
        args.work_dir, osp.join(args.data_root, 'VOCdevkit', ''),
        osp.join(imagenet, ''), options, show_dir='detections',
        show_score_thr=DRAW_SCORE_THR)

    print('\n' + '=' * 78)
    print(f'{"model":<46}{"metric":>22}{"train s":>10}')
    for step, result in results.items():
        metric = ('top-1 %' if 'backbone' in step else 'VOC07 mAP@0.5')
        print(f'{NAMES[step]:<46}{metric:>14}{result["metric"]:>8.4g}'
              f'{result["train_s"]:>10.0f}')
    ratio = results['bnn']['metric'] / max(results['fp']['metric'], 1e-9)
    print(f'BNN / FP mAP: {ratio:.2f}')
    print(f'total {time.time() - start:.0f} s (data {data_s:.0f} s); '
          f'checkpoints: {", ".join(r["checkpoint"] for r in results.values())}')
    if results['bnn']['drawn']:
        print(f'drawn detections (BNN, ground truth left, predictions '
              f'scoring >= {DRAW_SCORE_THR} right): {results["bnn"]["drawn"]}')
    with open(results['bnn']['predictions'], 'rb') as f:
        hits = top_box_hits(pickle.load(f), voc_class_names())
    print(f'BNN top-scoring box on an object (IoU >= 0.5): '
          f'{100 * hits["on_object"]:.1f}% of {hits["images"]} test images '
          f'({100 * hits["on_object_same_class"]:.1f}% with its class)')
    print('=' * 78)


if __name__ == '__main__':
    main()
