"""Loading weights only into a model they fit.

A tool must never print a metric for a checkpoint that does not belong to
the model: ``load_fitting_state_dict`` refuses missing, unexpected and
mis-shaped keys unless they are named (mmengine only warns).
"""
import fnmatch
from typing import Iterable, List, Sequence

import torch

from mmbnn.models.layers.binary import BinaryMixin
from mmbnn.utils.checkpoint import CheckpointMismatchError

__all__ = ['fit_report', 'load_fitting_state_dict', 'is_schedule_buffer_key']


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def is_schedule_buffer_key(key: str) -> bool:
    """Whether a state-dict key names a binary layer's schedule buffer
    (``BinaryMixin.SCHEDULE_BUFFERS``), judged by its name alone."""
    return key.rpartition('.')[2] in BinaryMixin.SCHEDULE_BUFFERS


def _is_binary_buffer(model: torch.nn.Module, key: str) -> bool:
    owner, _, name = key.rpartition('.')
    if name not in BinaryMixin.SCHEDULE_BUFFERS:
        return False
    try:
        return isinstance(model.get_submodule(owner), BinaryMixin)
    except AttributeError:
        return False


def fit_report(model: torch.nn.Module, state: dict,
               allow: Sequence[str] = (),
               binary_buffers_optional: bool = False):
    """``(missing, unexpected, mismatched)`` between ``model`` and ``state``,
    leaving out keys matching a pattern of ``allow`` (fnmatch, e.g.
    ``'bbox_head.*'``), BN's ``num_batches_tracked`` (a counter), and, with
    ``binary_buffers_optional``, binary-layer buffers the state lacks."""
    own = model.state_dict()
    missing = [k for k in own if k not in state
               and not k.endswith('num_batches_tracked')
               and not _matches(k, allow)
               and not (binary_buffers_optional and _is_binary_buffer(model, k))]
    unexpected = [k for k in state if k not in own and not _matches(k, allow)]
    mismatched = [(k, tuple(state[k].shape), tuple(own[k].shape))
                  for k in state if k in own and not _matches(k, allow)
                  and state[k].shape != own[k].shape]
    return missing, unexpected, mismatched


def _listing(title: str, items: List[str], first: int = 5) -> str:
    more = f', ... ({len(items) - first} more)' if len(items) > first else ''
    return f'{len(items)} {title}: {", ".join(items[:first])}{more}'


_ALLOW_HINT = ('If these keys are meant to differ, name them (fnmatch '
               'patterns) with --allow-mismatch / allow_mismatched_keys.')


def load_fitting_state_dict(model: torch.nn.Module, state: dict,
                            source: str, target: str,
                            allow: Sequence[str] = (),
                            binary_buffers_optional: bool = False,
                            hint: str = ''):
    """Load ``state`` into ``model`` if every key fits, else raise
    ``CheckpointMismatchError`` listing the first few missing, unexpected and
    mis-shaped keys with their counts, naming ``source`` (the checkpoint) and
    ``target`` (the config or module).

    Allowed missing keys keep the model's values; allowed unexpected and
    mis-shaped keys are not loaded.
    """
    missing, unexpected, mismatched = fit_report(
        model, state, allow, binary_buffers_optional)
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(_listing('missing keys', missing))
        if unexpected:
            parts.append(_listing('unexpected keys', unexpected))
        if mismatched:
            parts.append(_listing('shape mismatches (checkpoint vs model)', [
                f'{k} {tuple(a)} vs {tuple(b)}' for k, a, b in mismatched]))
        raise CheckpointMismatchError(
            f'checkpoint {source!r} does not fit {target}: '
            f'{"; ".join(parts)}. {hint or _ALLOW_HINT}')
    own = model.state_dict()
    fitting = {k: v for k, v in state.items()
               if k in own and v.shape == own[k].shape}
    model.load_state_dict(fitting, strict=False)
