"""Training a config's ``train_steps`` in order (AdamBNN's two-step recipe,
docs/methods.md 3.1) in one ``tools/train.py`` command."""
import json
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.dist import barrier, is_main_process
from mmengine.logging import print_log

from mmbnn.engine.train_steps import (DONE_FILE, check_train_steps,
                                      done_checkpoint, step_config, step_dir)
from mmbnn.utils.fileio import atomic_write_bytes
from .runner import build_runner

__all__ = ['train_in_steps']


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
        done = done_checkpoint(scfg.work_dir)
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
                scfg.load_from = done_checkpoint(step_dir(cfg, i - 1))
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
    return done_checkpoint(work_dir)


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
