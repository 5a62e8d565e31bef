"""The built-in demo: write the VOC-format scenes if absent, train the demo SSD
in full precision, then as a DIR-Net BNN (IMB weights, DTE gradients)
starting from the FP weights; evaluate both with VOC07 mAP and draw the BNN's
detections.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/synthetic]
"""
import argparse
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmbnn.apis import fp_then_binary  # noqa: E402
from mmbnn.datasets.synthetic import DEMO_VOC, ensure_voc  # noqa: E402

MODELS = (
    ('SSD192 VGG16-w0.25, full precision', 'fp',
     osp.join('configs', 'demo', 'ssd192_vgg16-w0.25_fp_synthvoc.py'), []),
    ('SSD192 VGG16-w0.25, BNN (IMB + DTE)', 'bnn',
     osp.join('configs', 'demo', 'bnn_ssd192_vgg16-w0.25_synthvoc.py'), []),
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--data-root', default=osp.join('data', 'synthetic'))
    parser.add_argument('--epochs', type=int, default=None,
                        help="training epochs (default: the configs')")
    args = parser.parse_args(argv)

    start = time.time()
    ensure_voc(args.data_root, **DEMO_VOC)
    data_s = time.time() - start
    options = [] if args.epochs is None else [f'train_cfg.max_epochs={args.epochs}']
    results = fp_then_binary(MODELS, args.work_dir,
                             osp.join(args.data_root, 'VOCdevkit', ''), options,
                             show_dir='detections')

    print('\n' + '=' * 72)
    print(f'{"model":<40}{"VOC07 mAP@0.5 (11-pt)":>22}{"train s":>10}')
    for name, r in results:
        print(f'{name:<40}{r["metric"]:>22.4f}{r["train_s"]:>10.0f}')
    print(f'total {time.time() - start:.0f} s (data {data_s:.0f} s); '
          f'checkpoints: {", ".join(r["checkpoint"] for _, r in results)}')
    drawn = [r['drawn'] for _, r in results if r['drawn']]
    if drawn:
        print(f'drawn detections (BNN): {drawn[0]}')
    print('=' * 72)


if __name__ == '__main__':
    main()
