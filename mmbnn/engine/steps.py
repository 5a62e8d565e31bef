"""Training in steps: AdamBNN's two-step recipe (methods.md 3.1) in one
``tools/train.py`` command.

A config lists its steps as ``train_steps``; each step is a run of its own
(fresh optimizer state and LR schedule, its own work directory
``<work_dir>/step<i>_<binarize>``) that starts from the previous step's final
checkpoint::

    train_steps = [
        dict(binarize='activations', weight_decay=5e-6),  # real weights
        dict(binarize='both', weight_decay=0.0),
    ]

Step keys: ``binarize`` (what the binary layers binarize in this step, see
``BinarizeModeHook``), and optionally ``max_epochs`` (the step's length;
default the config's), ``weight_decay`` (the optimizer's) and
``cfg_options`` (any other overrides, as ``--cfg-options`` takes them). LR
schedulers without an explicit ``end`` span each step, as in the paper.
"""
import copy
import json
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.dist import barrier, is_main_process
from mmengine.logging import print_log

from mmbnn.models.layers.binary import MODES
from mmbnn.utils.checkpoint import atomic_write_bytes

STEP_KEYS = ('binarize', 'max_epochs', 'weight_decay', 'cfg_options')
DONE_FILE = 'step_done.json'


def check_train_steps(steps) -> None:
    """Refuse a ``train_steps`` value that cannot mean what it says."""
    if not isinstance(steps, (list, tuple)) or not steps:
        raise ValueError(f'train_steps must be a non-empty list of dicts, got '
                         f'{steps!r}')
    for i, step in enumerate(steps):
        where = f'train_steps[{i}]'
        if not isinstance(step, dict):
            raise TypeError(f'{where} must be a dict, got {step!r}')
        unknown = sorted(set(step) - set(STEP_KEYS))
        if unknown:
            raise KeyError(f'{where}: unknown key(s) {unknown}; a step takes '
                           f'{list(STEP_KEYS)}')
        if step.get('binarize') not in MODES:
            raise ValueError(f'{where}.binarize must be one of {list(MODES)}, '
                             f'got {step.get("binarize")!r}')
        epochs = step.get('max_epochs', 1)
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f'{where}.max_epochs must be an int >= 1, got '
                             f'{epochs!r}')
        if step.get('weight_decay', 0) < 0:
            raise ValueError(f'{where}.weight_decay must be >= 0')


def step_dir(cfg: Config, index: int) -> str:
    return osp.join(cfg.work_dir,
                    f'step{index + 1}_{cfg.train_steps[index]["binarize"]}')


def step_config(cfg: Config, index: int) -> Config:
    """The config of step ``index`` (0-based) as a plain one-run config."""
    step = cfg.train_steps[index]
    out = copy.deepcopy(cfg)
    out.pop('train_steps')
    out.work_dir = step_dir(cfg, index)
    name = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
    out.experiment_name = f'{name}_step{index + 1}'
    if 'max_epochs' in step:
        if 'max_epochs' not in out.train_cfg:
            raise ValueError('train_steps[].max_epochs needs an epoch-based '
                             'train_cfg (with max_epochs)')
        out.train_cfg.max_epochs = step['max_epochs']
    if 'weight_decay' in step:
        out.optim_wrapper.optimizer.weight_decay = step['weight_decay']
    if step.get('cfg_options'):
        out.merge_from_dict(step['cfg_options'])
    hooks = [dict(h) for h in out.get('custom_hooks', [])]
    hooks.append(dict(type='BinarizeModeHook', mode=step['binarize']))
    # Step 1's final checkpoint holds the diagnostics' signs at its start.
    first = _done_checkpoint(step_dir(cfg, 0)) if index else None
    for hook in hooks:
        if (hook.get('type') == 'BNNDiagnosticsHook' and first
                and not hook.get('reference_checkpoint')):
            hook['reference_checkpoint'] = first
    out.custom_hooks = hooks
    return out


def testing_config(cfg: Config) -> Config:
    """A stepped config for testing: the last step's binarization."""
    if not cfg.get('train_steps'):
        return cfg
    check_train_steps(cfg.train_steps)
    cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                        dict(type='BinarizeModeHook',
                             mode=cfg.train_steps[-1]['binarize'])]
    return cfg


def train_in_steps(cfg: Config, resume: bool = False,
                   only_step: Optional[int] = None) -> Optional[str]:
    """Run the config's ``train_steps`` in order; return the final checkpoint.

    With ``resume``, a finished step is skipped, an interrupted one resumes
    from its own latest checkpoint, and a step not yet begun starts from the
    previous step's final checkpoint, so a run stopped anywhere, including
    between two steps, continues as if it had not stopped. ``only_step``
    (1-based) runs that step alone: it starts from ``load_from`` when the
    config sets one, else from the previous step's final checkpoint.
    """
    from mmbnn.utils.config import build_runner

    steps = cfg.train_steps
    check_train_steps(steps)
    if only_step is not None and not 1 <= only_step <= len(steps):
        raise ValueError(f'--train-step must be in 1..{len(steps)}, got '
                         f'{only_step}')
    indices = range(len(steps)) if only_step is None else [only_step - 1]
    final = None
    for i in indices:
        scfg = step_config(cfg, i)
        label = f'step {i + 1}/{len(steps)} (binarize {steps[i]["binarize"]!r})'
        done = _done_checkpoint(scfg.work_dir)
        if resume and done:
            print_log(f'{label} finished before: {done}', logger='current')
            final = done
            continue
        if resume and osp.isfile(osp.join(scfg.work_dir, 'last_checkpoint')):
            scfg.resume, scfg.load_from = True, None
        else:
            scfg.resume = False
            _forget_done(cfg, i)
            if i > 0 and not (only_step is not None and cfg.get('load_from')):
                scfg.load_from = _done_checkpoint(step_dir(cfg, i - 1))
                if scfg.load_from is None:
                    raise FileNotFoundError(
                        f'step {i + 1} starts from step {i}\'s final checkpoint'
                        f', and {step_dir(cfg, i - 1)} has none: run step {i} '
                        'first, or give load_from')
        runner = build_runner(scfg)
        runner.logger.info(f'Training {label} in {scfg.work_dir}')
        runner.train()
        final = _finish_step(scfg.work_dir)
        del runner
    if final and indices[-1] == len(steps) - 1 and is_main_process():
        # tools/test.py and scripts find the result where a one-step run has it.
        atomic_write_bytes(final.encode(), osp.join(cfg.work_dir,
                                                    'last_checkpoint'))
    return final


def _finish_step(work_dir: str) -> str:
    barrier()
    if is_main_process():
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        atomic_write_bytes(json.dumps(dict(checkpoint=checkpoint)).encode(),
                           osp.join(work_dir, DONE_FILE))
    barrier()
    return _done_checkpoint(work_dir)


def _done_checkpoint(work_dir: str) -> Optional[str]:
    path = osp.join(work_dir, DONE_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)['checkpoint']


def _forget_done(cfg: Config, index: int) -> None:
    """A step that starts afresh makes its own and later steps' results
    stale: a later ``--resume`` must not skip them."""
    barrier()
    if is_main_process():
        for i in range(index, len(cfg.train_steps)):
            path = osp.join(step_dir(cfg, i), DONE_FILE)
            if osp.isfile(path):
                os.remove(path)
    barrier()
