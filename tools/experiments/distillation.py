"""What pretraining and distillation do for the demo BNN, at one budget.

Classification on the generated ImageNet-layout set (top-1): FP, BNN, BNN +
RBD from the FP classifier, BNN + logit distillation (AdamBNN). Detection on
the generated VOC set (VOC07 mAP): the BNN SSD started from the FP SSD's
weights (the earlier demo), from the binary-pretrained backbone (neck and head
from the FP SSD, no RBD), and with RBD at weights 0.1, 1 and 10.

    python tools/experiments/distillation.py [--epochs N] [--skip-classification]

Runs one after another (training runs sharing the 2 cores slow each other
several times over); prints a markdown table and writes it to
WORK_DIR/distillation.md.
"""
import argparse
import os.path as osp
import sys

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, TOOLS)
from experiments.harness import (  # noqa: E402
    DEMO, DEMO_IMAGENET, DEMO_VOC, FP_FROM_SCRATCH, ensure_imagenet,
    ensure_voc, handoff_options, train_and_test, write_table)

DEMO_DIR = osp.join('configs', 'demo')
CLS = {name: osp.join(DEMO_DIR, f'{stem}_synthimagenet.py') for name, stem in (
    ('FP', 'vgg16-w0.25_fp'), ('BNN', 'bnn_vgg16-w0.25'),
    ('BNN + RBD', 'bnn_vgg16-w0.25_rbd'), ('BNN + logit KD', 'bnn_vgg16-w0.25_kd'))}
BNN_FROM_FP = osp.join(DEMO_DIR, 'bnn_ssd192_vgg16-w0.25_synthvoc.py')
RBD_WEIGHTS = (0.1, 1.0, 10.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=None,
                        help="epochs of every detector, its whole schedule "
                        "(default: the demo configs', 6 FP, 10 BNN with RBD)")
    parser.add_argument('--skip-classification', action='store_true',
                        help='only the detector rows (still pretrains the '
                        'binary backbone they need)')
    parser.add_argument('--data-root', default=osp.join('data', 'synthetic'))
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'distillation'))
    args = parser.parse_args(argv)
    ensure_voc(args.data_root, **DEMO_VOC)
    imagenet = osp.join(args.data_root, 'imagenet', '')
    ensure_imagenet(imagenet, **DEMO_IMAGENET)
    voc = osp.join(args.data_root, 'VOCdevkit', '')
    # The demo detectors' schedules share one layout: warm-up, then cosine
    # decay to the last epoch, validated and saved there.
    budget = [] if args.epochs is None else [
        f'train_cfg.max_epochs={args.epochs}',
        f'train_cfg.val_interval={args.epochs}',
        f'param_scheduler.1.end={args.epochs}',
        f'default_hooks.checkpoint.interval={args.epochs}']

    def run(slug, config, root, options=(), metric='pascal_voc/mAP'):
        result = train_and_test(config, osp.join(args.work_dir, slug), root,
                                list(options), echo=False, metric=metric)
        print(f'{slug}: {metric} {result["metric"]:.4f} '
              f'({result["train_s"]:.0f} s)', flush=True)
        return result

    rows = []
    names = ['BNN'] if args.skip_classification else list(CLS)
    cls = {}
    for name in names:
        teacher = ([f'custom_hooks.2.teacher_checkpoint={cls["FP"]["checkpoint"]}']
                   if 'RBD' in name or 'KD' in name else [])
        cls[name] = run(f'cls_{name.lower().replace(" + ", "_").replace(" ", "-")}',
                        CLS[name], imagenet, teacher, metric='accuracy/top1')
        rows.append(('classification (top-1 %)', name, cls[name]))

    # The FP SSD from the FP classifier's backbone, as the demo trains it.
    fp = (run('det_fp', DEMO['fp'], voc, budget + [
        f'model.backbone.init_cfg.checkpoint={cls["FP"]["checkpoint"]}'])
        if 'FP' in cls else run('det_fp', FP_FROM_SCRATCH, voc, budget))
    rows.append(('detection (VOC07 mAP)', 'FP', fp))
    rows.append(('detection (VOC07 mAP)', 'BNN from the FP SSD\'s weights',
                 run('det_bnn_from_fp', BNN_FROM_FP, voc,
                     budget + [f'load_from={fp["checkpoint"]}'])))
    backbone = cls['BNN']['checkpoint']
    for weight in (0.0, ) + RBD_WEIGHTS:
        name = ('BNN from the binary-pretrained backbone' if weight == 0 else
                f'  + RBD, loss_weight {weight:g}')
        rows.append(('detection (VOC07 mAP)', name, run(
            f'det_pretrained_rbd{weight:g}', DEMO['bnn'], voc,
            budget + handoff_options(backbone, fp['checkpoint'], weight))))

    write_table(['task', 'variant', 'metric', 'train time (s)'],
                [[task, name, f'{r["metric"]:.4g}', f'{r["train_s"]:.0f}']
                 for task, name, r in rows],
                osp.join(args.work_dir, 'distillation.md'))


if __name__ == '__main__':
    main()
