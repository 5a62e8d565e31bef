"""mAP of the demo detector at one training budget: full precision, DIR-Net
(IMB + DTE), the plain sign + STE baseline and the two ablations; every
binary variant starts from the FP run's weights.

    python tools/experiments/ablation.py [--epochs N] [--only NAME ...]

Prints a markdown table (and writes it to WORK_DIR/ablation.md).
"""
import argparse
import os.path as osp
import sys

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, TOOLS)
from experiments.harness import (  # noqa: E402
    DEMO_VOC, ensure_voc, fp_then_binary, write_table)

FP = osp.join('configs', 'demo', 'ssd192_vgg16-w0.25_fp_synthvoc.py')
BNN = osp.join('configs', 'demo', 'bnn_ssd192_vgg16-w0.25_synthvoc.py')


def binary(weights, estimator):
    return [f'model.{part}.conv_cfg.{key}={value}'
            for part in ('backbone', 'neck')
            for key, value in (('weight_binarizer', weights),
                               ('weight_estimator', estimator),
                               ('activation_estimator', estimator))]


VARIANTS = {
    'FP': (FP, []),
    'IMB + DTE': (BNN, []),
    'sign + STE': (BNN, binary('sign', 'ste')),
    'IMB + STE': (BNN, binary('imb', 'ste')),
    'sign + DTE': (BNN, binary('sign', 'dte')),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=None,
                        help="training epochs for every variant (default: "
                        "the demo configs')")
    parser.add_argument('--only', nargs='+', choices=list(VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument('--data-root', default=osp.join('data', 'synthetic'))
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'ablation'))
    args = parser.parse_args(argv)
    ensure_voc(args.data_root, **DEMO_VOC)
    budget = [] if args.epochs is None else [f'train_cfg.max_epochs={args.epochs}']
    # FP first: every binary variant starts from its weights, as in the demo.
    names = ['FP'] + [n for n in args.only if n != 'FP']
    runs = [(n, n.lower().replace(' + ', '-'), *VARIANTS[n]) for n in names]
    rows = fp_then_binary(runs, args.work_dir,
                          osp.join(args.data_root, 'VOCdevkit', ''), budget,
                          echo=False)
    write_table(['variant', 'VOC07 mAP@0.5 (11-point)', 'train time (s)'],
                [[n, f'{r["metric"]:.4f}', f'{r["train_s"]:.0f}'] for n, r in rows],
                osp.join(args.work_dir, 'ablation.md'))


if __name__ == '__main__':
    main()
