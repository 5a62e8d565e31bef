"""Fixes for known breakages of the pinned stack, applied when mmbnn is imported.

Each fix names the breakage it answers (docs/stack.md) and is idempotent.
"""
import functools
import pickle
import re

import numpy as np
import torch

__all__ = ['UnsafeCheckpointError', 'load_checkpoint_file', 'apply_all',
           'allow_checkpoint_globals']


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles an object outside the allowlist; nothing was run."""


def _numpy_globals():
    """Numpy objects that Runner checkpoints hold (scalars and arrays in the
    message hub and the log history), under numpy 1.x and 2.x module names."""
    core = getattr(np, '_core', None) or np.core
    entries = [np.dtype, np.ndarray]
    for name in ('scalar', '_reconstruct'):
        fn = getattr(core.multiarray, name)
        entries += [(fn, f'numpy.core.multiarray.{name}'),
                    (fn, f'numpy._core.multiarray.{name}')]
    # numpy >= 1.25 pickles a dtype through its class, e.g. numpy.dtypes.Float64DType.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        entries += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return entries


def _mmengine_globals():
    from mmengine.logging import HistoryBuffer

    def history_buffer_getattr(obj, name):
        """The one ``getattr`` Runner checkpoints pickle: a HistoryBuffer
        statistics method (``HistoryBuffer.min`` pickles as
        ``getattr(HistoryBuffer, 'min')``). Anything else is refused, since a
        free ``getattr`` would reach arbitrary objects."""
        known = {'min', 'max', 'current', 'mean'} | set(
            HistoryBuffer._statistics_methods)
        if obj is HistoryBuffer and name in known:
            return getattr(obj, name)
        raise UnsafeCheckpointError(
            f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer '
            'statistics methods are allowed')

    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'),
            (history_buffer_getattr, '__builtin__.getattr')]


@functools.lru_cache(maxsize=None)
def allow_checkpoint_globals():
    """Allowlist the few safe types mmengine Runner checkpoints contain
    (once); returns them."""
    safe = _numpy_globals() + _mmengine_globals()
    torch.serialization.add_safe_globals(safe)
    return tuple(safe)


def load_checkpoint_file(filename, map_location=None):
    """``torch.load`` with ``weights_only=True`` and a clear refusal.

    mmengine 0.10.7 calls ``torch.load`` with torch's default, which is
    ``weights_only=True`` from torch 2.6 on, so Runner checkpoints (numpy
    scalars, ``HistoryBuffer``) fail to load. Allowlisting those types keeps
    the safe unpickler; a checkpoint that pickles anything else is refused
    before any of its code can run.
    """
    allow_checkpoint_globals()
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch wraps the unpickler's complaint in advice; keep the complaint.
        found = re.search(r'^(?:WeightsUnpickler error: )?((?:Unsupported|Trying|'
                          r'Can only|checkpoint asks).*?)(?:\. Please use.*)?$',
                          str(err), re.M)
        detail = (found.group(1) if found else str(err)).rstrip('.')
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: {detail}. A training '
            'checkpoint holds only tensors, numpy scalars and arrays and '
            'mmengine HistoryBuffers; anything else could run arbitrary code, '
            'so nothing from this file was executed. If you wrote it yourself '
            'and trust it, load it with torch.load(path, weights_only=False) '
            'and save only its state_dict.') from None


def _register_checkpoint_loader():
    import os.path as osp

    from mmengine.runner.checkpoint import CheckpointLoader

    def load_from_local(filename, map_location):
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint {filename!r} does not exist')
        return load_checkpoint_file(filename, map_location)

    # The local scheme serves load_from, --resume, tools/test.py and
    # mmengine's load_checkpoint alike.
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)


def _fix_ssd_head_loss_cls():
    """mmdet 3.3.0: ``BaseDenseHead._predict_by_feat_single`` reads
    ``self.loss_cls``, which ``SSDHead`` never sets (it computes its
    cross-entropy inline), so SSD validation and testing crash. Expose the
    attribute as ``None`` unless a subclass registers a real loss module."""
    from mmdet.models.dense_heads import SSDHead
    if 'loss_cls' in vars(SSDHead):
        return
    SSDHead.loss_cls = property(lambda self: self._modules.get('loss_cls'))


_APPLIED = False


def apply_all():
    global _APPLIED
    if _APPLIED:
        return
    _register_checkpoint_loader()
    _fix_ssd_head_loss_cls()
    _APPLIED = True
