"""The harness of the demo and the training studies: train-then-test runs
through the command-line tools (each in its own process, as a user would run
it), the demo's configs and generated data sets, and result tables.

It lives with the scripts because it drives this checkout's tools; they put
``tools/`` on ``sys.path`` and import it as ``experiments.harness``.
"""
import os
import os.path as osp
import re
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmbnn.datasets import (  # noqa: E402
    generate_coco, generate_imagenet, generate_voc)


def stream(cmd: List[str], echo: bool = True,
           log: Optional[str] = None) -> str:
    """Run a command from the repository root, echoing its output (and
    appending it to the file ``log``); return it."""
    if echo:
        print('$', ' '.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    if log:
        os.makedirs(osp.dirname(osp.abspath(log)), exist_ok=True)
    with open(log, 'a') if log else nullcontext() as sink:
        if sink:
            sink.write('$ ' + ' '.join(cmd) + '\n')
        for line in proc.stdout:
            if echo:
                sys.stdout.write(line)
            if sink:
                sink.write(line)
            lines.append(line)
    if proc.wait() != 0:
        tail = ''.join(lines[-30:])
        raise RuntimeError(f'command failed (exit {proc.returncode}): '
                           f'{" ".join(cmd)}\n{tail}')
    return ''.join(lines)


def train_and_test(config: str, work_dir: str, data_root: str,
                   cfg_options: Optional[List[str]] = None,
                   show_dir: Optional[str] = None, echo: bool = True,
                   metric: str = 'pascal_voc/mAP',
                   show_score_thr: float = 0.3,
                   log: Optional[str] = None, test: bool = True) -> Dict:
    """``tools/train.py`` then ``tools/test.py`` on the last checkpoint
    (their output appended to the file ``log`` when given).

    ``test=False`` runs no ``tools/test.py``: the metric is then the
    training's last validation, which mmengine runs after the final epoch
    on the weights it saves, equal to ``tools/test.py``'s where the config's
    test loader and evaluator are its validation ones (the demo configs':
    ``test_dataloader = val_dataloader``); it saves a process start and an
    evaluation. A training that printed no validation is an error.

    Returns the metric, wall times, the checkpoint, the metric at each
    validation during training (``history``) and, with ``show_dir``,
    where drawn detections went and the predictions' dump
    (``work_dir/predictions.pkl``, ``tools/test.py --out``).
    """
    if show_dir and not test:
        raise ValueError('drawing the detections needs tools/test.py '
                         '(test=True)')
    common = ['--work-dir', work_dir, '--data-root', data_root]
    options = ['--cfg-options', *cfg_options] if cfg_options else []
    start = time.time()
    trained = stream([sys.executable, osp.join('tools', 'train.py'), config,
                      *common, *options], echo, log)
    train_s = time.time() - start
    with open(osp.join(ROOT, work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    history = _metric_values(metric, trained)
    if not test:
        if not history:
            raise RuntimeError(f'tools/train.py printed no {metric!r} '
                               f'validation for {config}; last lines:\n'
                               f'{trained[-2000:]}')
        return dict(metric=history[-1], history=history, train_s=train_s,
                    test_s=0.0, checkpoint=checkpoint, drawn=None,
                    predictions=None)
    predictions = (osp.join(ROOT, work_dir, 'predictions.pkl') if show_dir
                   else None)
    extra = ['--show-dir', show_dir, '--show-score-thr', str(show_score_thr),
             '--out', predictions] if show_dir else []
    start = time.time()
    out = stream([sys.executable, osp.join('tools', 'test.py'), config,
                  checkpoint, *common, *extra, *options], echo, log)
    test_s = time.time() - start
    found = _metric_values(metric, out)
    if not found:
        raise RuntimeError(f'tools/test.py printed no {metric!r} for {config}; '
                           f'last lines:\n{out[-2000:]}')
    drawn = re.findall(r'^drawn detections: (.+)$', out, re.M)
    return dict(metric=found[-1], history=history,
                train_s=train_s, test_s=test_s, checkpoint=checkpoint,
                drawn=drawn[-1] if drawn else None, predictions=predictions)


def _metric_values(metric: str, log: str) -> List[float]:
    """Every value of ``metric`` in a tool's output, in order: the lines
    ``tools/test.py`` prints, and the ``metric: value`` fields of mmengine's
    validation log lines."""
    return [float(v) for v in re.findall(
        rf'(?:^|\s){re.escape(metric)}: ([0-9.]+)(?=\s|$)', log, re.M)]


def read_diagnostics(work_dir: str) -> Dict:
    """The ``bnn_diagnostics.json`` of a run's final training (the last step
    of a two-step run): the newest one under ``work_dir``."""
    import glob
    import json
    found = glob.glob(osp.join(ROOT, work_dir, '**', 'bnn_diagnostics.json'),
                      recursive=True)
    if not found:
        raise FileNotFoundError(f'no bnn_diagnostics.json under {work_dir}: '
                                'does the config have BNNDiagnosticsHook?')
    with open(max(found, key=osp.getmtime)) as f:
        return json.load(f)


def write_table(header: List[str], rows: List[List], path: str) -> str:
    """Print a markdown table and write it to ``path`` (under the repository
    root when relative); returns its text."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    text = '\n'.join(lines)
    print(text)
    path = osp.join(ROOT, path)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text + '\n')
    return text


def fp_then_binary(runs: List[tuple], work_dir: str, data_root: str,
                   cfg_options: Optional[List[str]] = None,
                   show_dir: Optional[str] = None,
                   echo: bool = True) -> List[tuple]:
    """``train_and_test`` each ``(name, slug, config, options)`` of ``runs``
    in order under ``work_dir/slug``; the first is the full-precision model,
    and every later (binary) run starts from its checkpoint, as BNNs usually
    start from real-valued weights. ``show_dir`` draws the later runs'
    detections. Returns ``[(name, result)]``, printing a line per run.
    """
    results, init = [], []
    for name, slug, config, options in runs:
        if echo:
            print(f'\n### {name}: {config}', flush=True)
        result = train_and_test(
            config, osp.join(work_dir, slug), data_root,
            list(cfg_options or []) + list(options) + init,
            show_dir=show_dir if init else None, echo=echo)
        init = init or [f'load_from={result["checkpoint"]}']
        results.append((name, result))
        print(f'{name}: {result["metric"]:.4f} (train {result["train_s"]:.0f} s)',
              flush=True)
    return results


# The papers' pipeline in miniature (tools/demo.py, tools/experiments/).
DEMO = dict(
    fp_backbone=osp.join('configs', 'demo', 'vgg16-w0.25_fp_synthimagenet.py'),
    # IMB + STE: DTE's binary VGG classifier learned far less in the demo's
    # 13 epochs (the config has the figures); the BNN detector keeps DTE.
    backbone=osp.join('configs', 'demo',
                      'bnn_vgg16-w0.25_imb-ste_synthimagenet.py'),
    fp=osp.join('configs', 'demo',
                'ssd192_vgg16-w0.25_fp_pretrained_synthvoc.py'),
    bnn=osp.join('configs', 'demo', 'bnn_ssd192_vgg16-w0.25_rbd_synthvoc.py'))
# The FP SSD with no pretrained backbone (the studies that train no FP
# classifier).
FP_FROM_SCRATCH = osp.join('configs', 'demo',
                           'ssd192_vgg16-w0.25_fp_synthvoc.py')


def handoff_options(backbone: str, fp_detector: str,
                    rbd_weight: float = 1.0) -> List[str]:
    """``--cfg-options`` for ``DEMO['bnn']``: the binary backbone from the
    pretrained classifier ``backbone``, neck and head from ``fp_detector``,
    which is also the RBD teacher (``rbd_weight`` 0 turns RBD off)."""
    return [f'model.backbone.init_cfg.checkpoint={backbone}',
            f'model.neck.init_cfg.0.checkpoint={fp_detector}',
            f'model.bbox_head.init_cfg.checkpoint={fp_detector}',
            f'custom_hooks.3.teacher_checkpoint={fp_detector}',
            f'custom_hooks.3.loss_weight={rbd_weight}']


def _step_options(step: str, results: Dict[str, Dict],
                  rbd_weight: float) -> List[str]:
    """What each step of ``pretrain_then_distill`` takes from the earlier
    ones: the FP detector's backbone from the FP classifier (as mmdet's
    configs start from ImageNet weights), the BNN detector as
    ``handoff_options``. The binary classifier starts from scratch: on the
    generated shapes it learned less from the FP classifier's weights
    (configs/demo/bnn_vgg16-w0.25_synthimagenet.py has the figures)."""
    if step == 'fp':
        return ['model.backbone.init_cfg.checkpoint='
                + results['fp_backbone']['checkpoint']]
    if step == 'bnn':
        return handoff_options(results['backbone']['checkpoint'],
                               results['fp']['checkpoint'], rbd_weight)
    return []


def pretrain_then_distill(work_dir: str, voc_root: str, imagenet_root: str,
                          cfg_options: Optional[List[str]] = None,
                          rbd_weight: float = 1.0,
                          show_dir: Optional[str] = None,
                          show_score_thr: float = 0.3,
                          echo: bool = True) -> Dict[str, Dict]:
    """Pretrain the FP and the binary backbone as classifiers on
    ``imagenet_root``, train the FP
    detector from the FP backbone (the teacher), then the BNN detector
    from the binary backbone and the FP detector with RBD; each trained and
    tested under ``work_dir/<step>``; ``cfg_options`` go to the detectors.
    Returns ``{'fp_backbone': ..., 'backbone': ..., 'fp': ..., 'bnn': ...}``
    results of ``train_and_test`` (top-1 for the classifiers, VOC mAP for
    the detectors). Only the BNN detector goes through ``tools/test.py``
    (its detections drawn with ``show_dir``); the other steps' metric is
    their training's final validation, the same evaluation.
    """
    options = list(cfg_options or [])
    results = {}
    for step in DEMO:
        classifier = step in ('fp_backbone', 'backbone')
        root, metric = ((imagenet_root, 'accuracy/top1') if classifier
                        else (voc_root, 'pascal_voc/mAP'))
        if echo:
            print(f'\n### {step}: {DEMO[step]}', flush=True)
        results[step] = train_and_test(
            DEMO[step], osp.join(work_dir, step), root,
            ([] if classifier else options)
            + _step_options(step, results, rbd_weight),
            show_dir=show_dir if step == 'bnn' else None, echo=echo,
            metric=metric, show_score_thr=show_score_thr,
            test=step == 'bnn')
        print(f'{step}: {metric} {results[step]["metric"]:.4f} '
              f'(train {results[step]["train_s"]:.0f} s)', flush=True)
    return results


# The built-in demo's data set (tools/demo.py, tools/experiments/).
DEMO_VOC = dict(num_trainval=300, num_test=150, num_trainval_2012=100,
                image_size=240, num_classes=6, seed=0)


# The demo's ImageNet-layout set for binary backbone pretraining.
DEMO_IMAGENET = dict(num_train_per_class=200, num_val_per_class=30,
                     image_size=64, num_classes=10, seed=0)


def ensure_imagenet(out_dir: str, **kwargs) -> bool:
    """Write the ImageNet-layout set under ``out_dir`` unless it is there;
    returns whether it wrote it."""
    if osp.isfile(osp.join(out_dir, 'synset_mapping.txt')) and osp.isdir(
            osp.join(out_dir, 'val')):
        return False
    print(f'generating the ImageNet-layout data set under {out_dir} ...',
          flush=True)
    generate_imagenet(out_dir, **kwargs)
    return True


def ensure_voc(out_dir: str, **kwargs) -> bool:
    """Write the VOC-format set under ``out_dir`` unless it is already there;
    returns whether it wrote it."""
    lists = osp.join(out_dir, 'VOCdevkit', '{}', 'ImageSets', 'Main', '{}.txt')
    done = [lists.format('VOC2007', 'test')]
    if kwargs.get('num_trainval_2012', 1):
        done.append(lists.format('VOC2012', 'trainval'))
    if all(osp.isfile(path) for path in done):
        return False
    print(f'generating the VOC-format data set under {out_dir} ...', flush=True)
    generate_voc(out_dir, **kwargs)
    return True


# The demo-size COCO-format set of the Faster R-CNN studies (the generator's
# defaults: 200 training and 100 validation scenes of about 320 px).
DEMO_COCO = dict(num_train=200, num_val=100, image_size=320, seed=0)


def ensure_coco(out_dir: str, **kwargs) -> bool:
    """Write the COCO-format set under ``out_dir`` unless it is there;
    returns whether it wrote it."""
    if all(osp.isfile(osp.join(out_dir, 'annotations',
                               f'instances_{split}2017.json'))
           for split in ('train', 'val')):
        return False
    print(f'generating the COCO-format data set under {out_dir} ...',
          flush=True)
    generate_coco(out_dir, **kwargs)
    return True
