"""Training in steps: AdamBNN's two-step recipe (docs/methods.md 3.1) as config
transforms (``mmbnn.apis.train_in_steps`` runs the steps).

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
import os.path as osp
from typing import Optional

from mmengine.config import Config

from mmbnn.models.layers.binary import MODES

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
    first = done_checkpoint(step_dir(cfg, 0)) if index else None
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


def done_checkpoint(work_dir: str) -> Optional[str]:
    """The final checkpoint a finished step recorded in ``work_dir``, or None."""
    path = osp.join(work_dir, DONE_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)['checkpoint']
