"""The papers' recipes past the demo's budget: the demo's pipeline trained
longer, then every binarization recipe on the same start, and the binary
Faster R-CNN against its FP twin.

1. the FP and the binary VGG16-w0.25 classifiers (the demo's pretraining);
2. the FP SSD192 from the FP classifier, validated every few epochs so the
   table shows whether its mAP has stopped rising (the teacher);
3. the BNN SSD (binary backbone from 1, neck and head from 2) with each
   recipe: sign or IMB weights x STE or DTE gradients, each with and
   without RBD from 2; IMB + DTE + RBD with AdamBNN's two-step Adam; and
   IMB + DTE as long as the FP SSD (the others are shorter, to fit);
4. the FP Bi-Real ResNet-18 classifier, the FP Faster R-CNN from it on the
   generated COCO-format set, and its binary twin (IMB + DTE, backbone and
   FPN) from its weights.

Runs go ``--jobs`` at a time (the cores split between them); each run's
output goes to ``WORK_DIR/<run>.log`` and a line per finished run to the
console. The tables (``WORK_DIR/recipes.md``): each run's metric, BNN / FP,
and whether each of the papers' claims (IMB > sign, DTE > STE, RBD helps,
two-step > one-step) reproduces at this budget.

    python tools/experiments/recipe_benchmark.py [--jobs 2] [--fp-epochs 15]
        [--bnn-epochs 6] [--long-epochs 15] [--frcnn-epochs 14]
        [--cls-epochs 8 16]
"""
import argparse
import os
import os.path as osp
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Dict, List, NamedTuple, Sequence

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, TOOLS)
from experiments.ablation import binary  # noqa: E402
from experiments.harness import (  # noqa: E402
    DEMO, DEMO_COCO, DEMO_IMAGENET, DEMO_VOC, ROOT, ensure_coco,
    ensure_imagenet, ensure_voc, handoff_options, train_and_test,
    write_table)

DEMO_DIR = osp.join('configs', 'demo')
TWO_STEP = osp.join(DEMO_DIR,
                    'bnn_ssd192_vgg16-w0.25_rbd_adam-two-step_synthvoc.py')
RESNET_FP = osp.join(DEMO_DIR, 'resnet18-bireal_fp_synthimagenet.py')
FRCNN_FP = osp.join(DEMO_DIR, 'faster-rcnn_r18-bireal_fpn_fp_synthcoco.py')
FRCNN_BNN = osp.join(DEMO_DIR, 'bnn_faster-rcnn_r18-bireal_fpn_synthcoco.py')
VOC_MAP, COCO_MAP, TOP1 = 'pascal_voc/mAP', 'coco/bbox_mAP', 'accuracy/top1'
# (weight binarizer, estimator) of each recipe, as the papers name them.
RECIPES = {'sign + STE': ('sign', 'ste'), 'IMB + STE': ('imb', 'ste'),
           'sign + DTE': ('sign', 'dte'), 'IMB + DTE': ('imb', 'dte')}


class Run(NamedTuple):
    """One train-and-test: ``options(results)`` builds its ``--cfg-options``
    from the finished runs it ``needs``."""
    name: str
    config: str
    data: str  # 'imagenet', 'voc' or 'coco'
    metric: str
    needs: Sequence[str] = ()
    options: Callable[[Dict], List[str]] = lambda results: []


# The BNN SSDs' learning rate: the one the documented runs had
# (docs/benchmarks.md, 2026-12-05); the demo's BNN has since moved to 8e-3
# at its 12 epochs (configs/demo/README.md), not measured at these lengths.
BNN_LR = 4e-3


def length(epochs: int, val_interval: int = None) -> List[str]:
    """``--cfg-options`` for a one-step config of ``epochs`` epochs: the loop,
    the cosine's end, the checkpoint interval, and validation every
    ``val_interval`` epochs (default: at the end only)."""
    return [f'train_cfg.max_epochs={epochs}',
            f'train_cfg.val_interval={val_interval or epochs}',
            f'param_scheduler.1.end={epochs}',
            f'default_hooks.checkpoint.interval={epochs}']


def two_step_length(epochs: int) -> List[str]:
    """The two-step config's steps splitting ``epochs`` (the first step gets
    the smaller half); each step still validates and saves at its end
    (mmengine's loop and CheckpointHook do at the last epoch)."""
    return [f'train_steps.{step}.max_epochs={n}'
            for step, n in enumerate((epochs // 2, epochs - epochs // 2))]


LONG = "IMB + DTE, the FP SSD's epochs"


def plan(fp_epochs: int, bnn_epochs: int, frcnn_epochs: int,
         cls_epochs: Sequence[int] = (8, 16), frcnn: bool = True,
         long_epochs: int = None) -> List[Run]:
    """Every run of the benchmark, in an order that respects ``needs``;
    ``cls_epochs``: the FP and the binary classifier's. Besides the recipes
    at ``bnn_epochs``, IMB + DTE (DIR-Net's, the best of them at 6 epochs)
    trains for ``long_epochs`` (default: as many as the FP SSD; 0: not
    run): the BNN / FP ratio at an equal budget."""
    long_epochs = fp_epochs if long_epochs is None else long_epochs
    runs = [
        Run('FP classifier', DEMO['fp_backbone'], 'imagenet', TOP1, (),
            lambda r: length(cls_epochs[0])),
        Run('binary classifier', DEMO['backbone'], 'imagenet', TOP1, (),
            lambda r: length(cls_epochs[1])),
        Run('FP SSD', DEMO['fp'], 'voc', VOC_MAP, ('FP classifier', ),
            lambda r: length(fp_epochs, max(1, fp_epochs // 6)) + [
                'model.backbone.init_cfg.checkpoint='
                + r['FP classifier']['checkpoint']]),
    ]

    # The Faster R-CNN chain is listed before the BNN SSDs, so that its long
    # runs start as soon as they can and do not end the benchmark alone.
    if frcnn:
        runs += [
            Run('FP ResNet-18 classifier', RESNET_FP, 'imagenet', TOP1, (),
                lambda r: length(cls_epochs[0])),
            Run('FP Faster R-CNN', FRCNN_FP, 'coco', COCO_MAP,
                ('FP ResNet-18 classifier', ),
                lambda r: length(frcnn_epochs, max(1, frcnn_epochs // 2)) + [
                    'model.backbone.init_cfg.checkpoint='
                    + r['FP ResNet-18 classifier']['checkpoint']]),
            Run('BNN Faster R-CNN (IMB + DTE)', FRCNN_BNN, 'coco', COCO_MAP,
                ('FP Faster R-CNN', ), lambda r: length(frcnn_epochs) + [
                    'load_from=' + r['FP Faster R-CNN']['checkpoint']]),
        ]

    def bnn(recipe, rbd, epochs=bnn_epochs, val_interval=None):
        weights, estimator = RECIPES[recipe]
        return lambda r: (length(epochs, val_interval)
                          + binary(weights, estimator)
                          + [f'optim_wrapper.optimizer.lr={BNN_LR}']
                          + handoff_options(r['binary classifier']['checkpoint'],
                                            r['FP SSD']['checkpoint'],
                                            1.0 if rbd else 0.0))

    needs = ('binary classifier', 'FP SSD')
    if long_epochs:  # first: the longest BNN run starts as soon as it can
        runs.append(Run(LONG, DEMO['bnn'], 'voc', VOC_MAP, needs,
                        bnn('IMB + DTE', False, long_epochs,
                            max(1, long_epochs // 4))))
    for recipe in RECIPES:
        for rbd in (False, True):
            runs.append(Run(f'{recipe}{" + RBD" if rbd else ""}', DEMO['bnn'],
                            'voc', VOC_MAP, needs, bnn(recipe, rbd)))
    runs.append(Run('IMB + DTE + RBD, Adam two-step', TWO_STEP, 'voc',
                    VOC_MAP, needs, lambda r: two_step_length(bnn_epochs)
                    + handoff_options(r['binary classifier']['checkpoint'],
                                      r['FP SSD']['checkpoint'])))
    return runs


def slug(name: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in name.lower()).strip('_')


def run_all(runs: List[Run], work_dir: str, roots: Dict[str, str],
            jobs: int, runner=train_and_test) -> Dict[str, Dict]:
    """Run ``runs`` ``jobs`` at a time, each as soon as the runs it needs
    have finished; a line per finished run. Returns ``{name: result}`` of
    the runs that finished. A failed run is reported when it fails, the
    runs that need it do not start, the others go on; the failures are
    raised (``RuntimeError``) once nothing is left to run."""
    known = {run.name for run in runs}
    for run in runs:
        missing = set(run.needs) - known
        if missing:
            raise ValueError(f'{run.name!r} needs {sorted(missing)}, '
                             'which no run provides')
    results, failed, started = {}, {}, time.time()
    pending, running = list(runs), {}

    def say(text):
        print(f'[{time.time() - started:6.0f} s] {text}', flush=True)

    def go(run):
        # The metric is each training's final validation (the demo configs
        # test on their validation loader): no second evaluation.
        return runner(run.config, osp.join(work_dir, slug(run.name)),
                      roots[run.data], run.options(results), echo=False,
                      metric=run.metric, log=osp.join(
                          ROOT, work_dir, f'{slug(run.name)}.log'),
                      test=False)

    with ThreadPoolExecutor(jobs) as pool:
        while pending or running:
            for run in list(pending):
                if any(n in failed for n in run.needs):
                    pending.remove(run)
                    failed[run.name] = 'not run: needs a failed run'
                    say(f'skipped   {run.name} (it needs a failed run)')
            ready = [r for r in pending if all(n in results for n in r.needs)]
            for run in ready[:jobs - len(running)]:
                pending.remove(run)
                running[pool.submit(go, run)] = run
                say(f'started   {run.name}')
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                run = running.pop(future)
                try:
                    results[run.name] = future.result()
                except Exception as error:  # the others go on
                    failed[run.name] = str(error)
                    say(f'FAILED    {run.name}: {str(error).splitlines()[0]}')
                    continue
                say(f'finished  {run.name}: {run.metric} '
                    f'{results[run.name]["metric"]:.4f} (train '
                    f'{results[run.name]["train_s"]:.0f} s) '
                    f'[{len(results)}/{len(runs)}]')
    if failed:
        raise RuntimeError(f'{len(failed)} of {len(runs)} runs failed or '
                           'did not run:\n' + '\n'.join(
                               f'{name}: {error}' for name, error
                               in failed.items()), results)
    return results


def verdict(pairs: List[tuple]) -> str:
    """Whether a claim ``better > worse`` reproduces over its pairs of
    (better, worse) metrics: in every pair, in some, or in none."""
    wins = sum(b > w for b, w in pairs)
    return ('yes' if wins == len(pairs) else 'no' if wins == 0
            else f'mixed ({wins} of {len(pairs)})')


def claims(metrics: Dict[str, float]) -> List[List[str]]:
    """The papers' claims on the BNN SSD runs: each with its pairs
    (better-claimed first) and whether it reproduces."""
    rows = []

    def claim(text, pairs):
        pairs = [(a, b) for a, b in pairs if a in metrics and b in metrics]
        if pairs:
            rows.append([text, '; '.join(
                f'{a} {metrics[a]:.4f} vs {b} {metrics[b]:.4f}'
                for a, b in pairs),
                verdict([(metrics[a], metrics[b]) for a, b in pairs])])

    rbd = ('', ' + RBD')
    claim('IMB > sign (DIR-Net)', [(f'IMB + {e}{d}', f'sign + {e}{d}')
                                   for e in ('STE', 'DTE') for d in rbd])
    claim('DTE > STE (DIR-Net)', [(f'{w} + DTE{d}', f'{w} + STE{d}')
                                  for w in ('sign', 'IMB') for d in rbd])
    claim('RBD helps (DIR-Net)', [(f'{r} + RBD', r) for r in RECIPES])
    claim('Adam two-step > one-step (AdamBNN)',
          [('IMB + DTE + RBD, Adam two-step', 'IMB + DTE + RBD')])
    return rows


def tables(runs: List[Run], results: Dict[str, Dict], work_dir: str) -> str:
    """Write and print the result and claims tables; returns the text."""
    fp_of = {VOC_MAP: 'FP SSD', COCO_MAP: 'FP Faster R-CNN'}
    rows = []
    order = [TOP1, VOC_MAP, COCO_MAP]  # classifiers, SSDs, Faster R-CNNs
    for run in sorted(runs, key=lambda run: order.index(run.metric)):
        result = results[run.name]
        fp = results.get(fp_of.get(run.metric))
        ratio = ('' if fp is None or run.name == fp_of[run.metric]
                 else f'{result["metric"] / max(fp["metric"], 1e-9):.2f}')
        history = ' '.join(f'{v:.3g}' for v in result['history'][:-1])
        rows.append([run.name, run.metric, f'{result["metric"]:.4f}', ratio,
                     history, f'{result["train_s"]:.0f}'])
    text = write_table(['run', 'metric', 'value', 'BNN / FP',
                        'earlier validations', 'train s'], rows,
                       osp.join(work_dir, 'recipes.md'))
    metrics = {name: r['metric'] for name, r in results.items()}
    text += '\n\n' + write_table(['claim', 'pairs', 'reproduces'],
                                 claims(metrics),
                                 osp.join(work_dir, 'claims.md'))
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs at a time (the cores are split among them)')
    # The defaults fit the 60 minutes on 2 cores (docs/benchmarks.md:
    # the runs of 2026-12-05 with 18 FP, 8 BNN epochs and a 20-epoch binary
    # classifier took 68 and 76 min before the ResNet-18 classifier joined);
    # the FP SSD alone, 18 epochs: 0.367 / 0.399 / 0.413 mAP at 12 / 15 / 18.
    parser.add_argument('--fp-epochs', type=int, default=15)
    parser.add_argument('--bnn-epochs', type=int, default=6)
    parser.add_argument('--long-epochs', type=int, default=None,
                        help="IMB + DTE's epochs in its long run (default: "
                             "the FP SSD's; 0: no long run)")
    # 14 since the Faster R-CNN's step got 1.6-1.9x faster (native RoIAlign,
    # no subnormal gradients; docs/benchmarks.md, 2026-12-06): about the
    # time 8 epochs took.
    parser.add_argument('--frcnn-epochs', type=int, default=14)
    parser.add_argument('--cls-epochs', type=int, nargs=2, default=[8, 16],
                        metavar=('FP', 'BINARY'),
                        help="the FP classifiers' (VGG and ResNet-18) and the "
                             "binary classifier's epochs (the demo's: 8 13)")
    parser.add_argument('--no-frcnn', action='store_true',
                        help='leave out the Faster R-CNN chain')
    parser.add_argument('--data-root', default=osp.join('data', 'synthetic'))
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'recipes'))
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error('--jobs must be at least 1')
    # Each run gets its share of the cores (torch reads this at start-up).
    os.environ['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1)
                                            // args.jobs))
    start = time.time()
    roots = dict(imagenet=osp.join(args.data_root, 'imagenet', ''),
                 voc=osp.join(args.data_root, 'VOCdevkit', ''),
                 coco=osp.join(args.data_root, 'coco', ''))
    ensure_voc(args.data_root, **DEMO_VOC)
    ensure_imagenet(roots['imagenet'], **DEMO_IMAGENET)
    if not args.no_frcnn:
        ensure_coco(roots['coco'], **DEMO_COCO)
    runs = plan(args.fp_epochs, args.bnn_epochs, args.frcnn_epochs,
                args.cls_epochs, frcnn=not args.no_frcnn,
                long_epochs=args.long_epochs)
    print(f'{len(runs)} runs, {args.jobs} at a time, '
          f'{os.environ["OMP_NUM_THREADS"]} thread(s) each; logs under '
          f'{args.work_dir}/', flush=True)
    try:
        results, error = run_all(runs, args.work_dir, roots, args.jobs), None
    except RuntimeError as failure:
        (error, results) = failure.args
    print()
    tables([run for run in runs if run.name in results], results,
           args.work_dir)
    print(f'\ntotal {time.time() - start:.0f} s')
    if error:
        sys.exit(error)


if __name__ == '__main__':
    main()
