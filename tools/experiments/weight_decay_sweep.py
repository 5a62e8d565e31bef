"""AdamBNN's Table 1 for your data: weight decay against FF, C2I and top-1.

Trains the demo binary classifier (Adam, weight decay on conv kernels only,
one step: weights and activations binary throughout) once per weight decay on
the generated ImageNet-layout set, reads each run's bnn_diagnostics.json, and
prints (and writes to WORK_DIR/weight_decay.md) the table, with the plot
WORK_DIR/weight_decay.png. The paper's trend: as weight decay grows, FF rises
and C2I falls.

    python tools/experiments/weight_decay_sweep.py [--decays 0 5e-6 5e-5 ...]
        [--epochs 8] [--config CONFIG] [--data-root data/synthetic]

Any config with BNNDiagnosticsHook whose optimizer takes weight_decay can be
swept with --config and --data-root (its dataset root).
"""
import argparse
import os.path as osp
import sys

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, TOOLS)
from experiments.harness import (  # noqa: E402
    DEMO_IMAGENET, ensure_imagenet, read_diagnostics, train_and_test,
    write_table)
from experiments.harness import ROOT  # noqa: E402

CONFIG = osp.join('configs', 'demo',
                  'bnn_vgg16-w0.25_adam-two-step_synthimagenet.py')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--decays', type=float, nargs='+',
                        default=[0.0, 5e-6, 5e-5, 5e-4, 5e-3])
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--data-root', default=None,
                        help='dataset root (default: the generated '
                        'ImageNet-layout set, made if missing)')
    parser.add_argument('--metric', default='accuracy/top1')
    parser.add_argument('--work-dir', default=osp.join('work_dirs',
                                                       'weight_decay'))
    args = parser.parse_args(argv)
    root = args.data_root
    if root is None:
        root = osp.join('data', 'synthetic', 'imagenet', '')
        ensure_imagenet(root, **DEMO_IMAGENET)
    rows = []
    for decay in args.decays:
        work = osp.join(args.work_dir, f'wd{decay:g}')
        result = train_and_test(
            args.config, work, root, echo=False, metric=args.metric,
            cfg_options=['train_steps=None',
                         f'optim_wrapper.optimizer.weight_decay={decay}',
                         f'train_cfg.max_epochs={args.epochs}',
                         f'train_cfg.val_interval={args.epochs}'])
        diag = read_diagnostics(work)
        rows.append([f'{decay:g}', f'{diag["ff_ratio_mean"]:.3e}',
                     f'{diag["c2i"]:.4f}', f'{result["metric"]:.2f}'])
        print(f'weight decay {decay:g}: FF {rows[-1][1]}, C2I {rows[-1][2]}, '
              f'{args.metric} {rows[-1][3]}', flush=True)
    write_table(['weight decay', 'FF ratio (mean)', 'C2I', args.metric], rows,
                osp.join(args.work_dir, 'weight_decay.md'))
    plot(rows, osp.join(ROOT, args.work_dir, 'weight_decay.png'), args.metric)


def plot(rows, path, metric):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    labels = [r[0] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, col, name in zip(axes, (1, 2, 3), ('FF ratio', 'C2I', metric)):
        ax.plot(labels, [float(r[col]) for r in rows], 'o-')
        ax.set_xlabel('weight decay')
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f'plot: {path}')


if __name__ == '__main__':
    main()
