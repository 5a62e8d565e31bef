"""AdamBNN's comparisons at one budget: Adam vs SGD, and two-step
(activations first) vs one-step vs weights first.

Classification (default): the demo binary classifier on the generated
ImageNet-layout set, EPOCHS epochs in all (a two-step run splits them in
half), top-1 with the final FF and C2I of each run. Detection (--detector):
the demo BNN SSD with RBD (pretrained binary backbone, FP neck/head and
teacher), trained as the demo does and with two-step Adam, VOC07 mAP; it
needs the pretrained classifier and the FP detector (tools/demo.py or
tools/experiments/distillation.py write them).

    python tools/experiments/compare_recipes.py [--epochs 8]
    python tools/experiments/compare_recipes.py --detector \\
        --backbone work_dirs/demo/backbone/epoch_13.pth \\
        --fp-detector work_dirs/demo/fp/epoch_12.pth

Prints a markdown table and writes it to WORK_DIR/recipes.md (or
recipes_detector.md).
"""
import argparse
import os.path as osp
import sys

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, TOOLS)
from experiments.harness import (  # noqa: E402
    DEMO, DEMO_IMAGENET, DEMO_VOC, ensure_imagenet, ensure_voc,
    handoff_options, read_diagnostics, train_and_test, write_table)

DEMO_DIR = osp.join('configs', 'demo')
ADAM = osp.join(DEMO_DIR, 'bnn_vgg16-w0.25_adam-two-step_synthimagenet.py')
SGD = osp.join(DEMO_DIR, 'bnn_vgg16-w0.25_sgd_synthimagenet.py')
DET_TWO_STEP = osp.join(DEMO_DIR,
                        'bnn_ssd192_vgg16-w0.25_rbd_adam-two-step_synthvoc.py')


DETECTOR_RUNS = [
    ('demo recipe (AdamW, warm-up + cosine, one step)', 'det_demo',
     DEMO['bnn']),
    ('Adam two-step (activations first), conv-only weight decay',
     'det_adam_two-step', DET_TWO_STEP),
]


def classification_runs(epochs):
    half = [f'train_steps.0.max_epochs={epochs // 2}',
            f'train_steps.1.max_epochs={epochs - epochs // 2}']
    one = ['train_steps=None', f'train_cfg.max_epochs={epochs}']
    return [
        ('Adam, two-step (activations first)', 'adam_two-step', ADAM, half),
        ('Adam, one-step', 'adam_one-step', ADAM, one),
        ('Adam, two-step weights first', 'adam_weights-first', ADAM,
         half + ['train_steps.0.binarize=weights']),
        ('SGD, two-step (activations first)', 'sgd_two-step', SGD, half),
        ('SGD, one-step', 'sgd_one-step', SGD, one),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=8,
                        help='classification: epochs of every run in all')
    parser.add_argument('--detector', action='store_true')
    parser.add_argument('--backbone', help='pretrained binary classifier')
    parser.add_argument('--fp-detector', help='FP demo detector (teacher)')
    parser.add_argument('--only', nargs='+', metavar='SLUG',
                        help='run only these (the work_dirs names, e.g. '
                        'det_adam_two-step: make demo already trained '
                        'det_demo\'s recipe)')
    parser.add_argument('--data-root', default=osp.join('data', 'synthetic'))
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'recipes'))
    args = parser.parse_args(argv)
    known = ([slug for _, slug, _ in DETECTOR_RUNS] if args.detector else
             [run[1] for run in classification_runs(args.epochs)])
    unknown = sorted(set(args.only or ()) - set(known))
    if unknown:
        parser.error(f'--only: unknown run(s) {unknown}; choose from {known}')
    if args.detector:
        return detector(args)
    root = osp.join(args.data_root, 'imagenet', '')
    ensure_imagenet(root, **DEMO_IMAGENET)
    rows = []
    for name, slug, config, options in classification_runs(args.epochs):
        if args.only and slug not in args.only:
            continue
        work = osp.join(args.work_dir, slug)
        result = train_and_test(config, work, root, options, echo=False,
                                metric='accuracy/top1')
        diag = read_diagnostics(work)
        rows.append([name, f'{result["metric"]:.2f}',
                     f'{diag["ff_ratio_mean"]:.3e}', f'{diag["c2i"]:.4f}',
                     f'{diag.get("c2i_first_step", diag["c2i"]):.4f}',
                     f'{result["train_s"]:.0f}'])
        print(' | '.join(rows[-1]), flush=True)
    write_table(['recipe', 'top-1 %', 'FF (last step)', 'C2I (last step)',
                 'C2I (vs the first start)', 'train time (s)'], rows,
                osp.join(args.work_dir, 'recipes.md'))


def detector(args):
    if not (args.backbone and args.fp_detector):
        raise SystemExit('--detector needs --backbone and --fp-detector')
    ensure_voc(args.data_root, **DEMO_VOC)
    voc = osp.join(args.data_root, 'VOCdevkit', '')
    options = handoff_options(args.backbone, args.fp_detector)
    rows = []
    for name, slug, config in DETECTOR_RUNS:
        if args.only and slug not in args.only:
            continue
        result = train_and_test(config, osp.join(args.work_dir, slug), voc,
                                options, echo=False)
        rows.append([name, f'{result["metric"]:.4f}',
                     f'{result["train_s"]:.0f}'])
        print(' | '.join(rows[-1]), flush=True)
    write_table(['BNN SSD (8 epochs, RBD)', 'VOC07 mAP', 'train time (s)'],
                rows, osp.join(args.work_dir, 'recipes_detector.md'))


if __name__ == '__main__':
    main()
