"""Reading checkpoints safely.

A tool must never run code a checkpoint carries: ``read_checkpoint`` is
``torch.load(weights_only=True)`` with an allowlist of what mmengine and
mmbnn write, and one-line errors for files that are not checkpoints. Loading
weights only where they fit the model is ``models.utils.state_dict``'s job.
"""
import functools
import os.path as osp
import pickle
import re
import zipfile
from collections import OrderedDict
from typing import Optional

import numpy as np
import torch

__all__ = ['CheckpointError', 'UnsafeCheckpointError', 'CheckpointMismatchError',
           'read_checkpoint', 'check_checkpoint_file',
           'allow_checkpoint_globals', 'state_dict_of']


class CheckpointError(ValueError):
    """A file that cannot serve as the checkpoint asked for; the message is one
    line naming the file and what is wrong."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint pickles an object outside the allowlist; nothing was run."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's weights do not fit the model they are loaded into."""


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

    def empty_bytes(*args):
        """An empty array's buffer pickles as ``bytes()``. Only that (and
        bytes from a bytes-like or string) is allowed: ``bytes(n)`` would let
        a file allocate arbitrary memory."""
        if args and not isinstance(args[0], (bytes, bytearray, str)):
            raise UnsafeCheckpointError(
                f'checkpoint asks for bytes({type(args[0]).__name__}); only '
                'bytes() of a bytes or string value is allowed')
        return bytes(*args)

    entries += [(empty_bytes, 'builtins.bytes'), (empty_bytes, '__builtin__.bytes')]
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


# Leading bytes of files users mistake for PyTorch checkpoints.
_FOREIGN_FORMATS = (
    (b'\x89HDF\r\n\x1a\n', 'an HDF5 file (Keras/TensorFlow weights?)'),
    (b'\x93NUMPY', 'a NumPy .npy array'),
    (b'GGUF', 'a GGUF model file'),
)


def _sniff(filename: str) -> Optional[str]:
    """What is wrong with ``filename`` before unpickling, or None."""
    if not osp.exists(filename):
        return 'does not exist'
    if osp.isdir(filename):
        return 'is a directory, not a checkpoint file'
    size = osp.getsize(filename)
    if size == 0:
        return 'is empty (0 bytes)'
    with open(filename, 'rb') as f:
        head = f.read(16)
    for magic, what in _FOREIGN_FORMATS:
        if head.startswith(magic):
            return f'is {what}, not a PyTorch checkpoint'
    if len(head) >= 9 and head[8:9] == b'{' and int.from_bytes(
            head[:8], 'little') < size:
        return ('is a safetensors file, not a PyTorch checkpoint; load it '
                'with safetensors.torch.load_file and save its state_dict '
                'with torch.save')
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(filename) as z:
                names = z.namelist()
                if not any(n.endswith('/data.pkl') or n == 'data.pkl'
                           for n in names):
                    return ('is a zip archive without a PyTorch data.pkl, not '
                            'a checkpoint')
                # torch does not check the archive's CRCs: corrupted tensor
                # bytes would load as wrong weights.
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            return (f'is a truncated or corrupted checkpoint (its zip archive '
                    f'is damaged: {err})')
        if bad is not None:
            return f'is corrupted (member {bad!r} fails its CRC check)'
    elif head[:1] != b'\x80':
        # torch.save writes a zip archive; the legacy format starts with a
        # pickle protocol opcode (0x80).
        kind = ('a text file' if all(32 <= c < 127 or c in b'\t\r\n'
                                     for c in head) else 'not a pickle')
        return f'is {kind}, not a PyTorch checkpoint'
    return None


def check_checkpoint_file(filename) -> str:
    """Raise ``FileNotFoundError`` or a one-line ``CheckpointError`` if
    ``filename`` cannot be a PyTorch checkpoint (judged from its first bytes;
    cheap, nothing is unpickled); return the expanded path."""
    filename = osp.expanduser(str(filename))
    problem = _sniff(filename)
    if problem == 'does not exist':
        raise FileNotFoundError(f'checkpoint {filename!r} does not exist')
    if problem:
        raise CheckpointError(f'checkpoint {filename!r} {problem}')
    return filename


def _unsafe_detail(err: Exception) -> str:
    # torch wraps the unpickler's complaint in advice; keep the complaint.
    found = re.search(r'^(?:WeightsUnpickler error: )?((?:Unsupported|Trying|'
                      r'Can only|checkpoint asks).*?)(?:\. Please use.*)?$',
                      str(err), re.M)
    return (found.group(1) if found else str(err).splitlines()[0]).rstrip('.')


def read_checkpoint(filename, map_location=None):
    """``torch.load(weights_only=True)`` of a file, with one-line errors.

    mmengine 0.10.7 calls ``torch.load`` with torch's default, which is
    ``weights_only=True`` from torch 2.6 on, so Runner checkpoints (numpy
    scalars, ``HistoryBuffer``) fail to load. Allowlisting those types keeps
    the safe unpickler; a checkpoint that pickles anything else is refused
    (``UnsafeCheckpointError``) before any of its code can run, and a file
    that is no checkpoint at all (text, empty, truncated, a directory,
    another framework's format) raises ``CheckpointError`` saying so.
    """
    filename = check_checkpoint_file(filename)
    allow_checkpoint_globals()
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(_refusal(filename, str(err))) from None
    except pickle.UnpicklingError as err:
        if 'Unsupported' in str(err) or 'checkpoint asks' in str(err) or \
                'Trying' in str(err):
            raise UnsafeCheckpointError(
                _refusal(filename, _unsafe_detail(err))) from None
        raise CheckpointError(
            f'checkpoint {filename!r} is corrupted or not a PyTorch checkpoint '
            f'({_unsafe_detail(err)})') from None
    except (EOFError, RuntimeError, KeyError, ValueError, OSError,
            IndexError, TypeError, AttributeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(
            f'checkpoint {filename!r} is truncated, corrupted or not a PyTorch '
            f'checkpoint ({type(err).__name__}: {first})') from None


def _refusal(filename, detail):
    return (f'Refusing to load checkpoint {filename!r}: {detail}. A training '
            'checkpoint holds only tensors, numpy scalars and arrays and '
            'mmengine HistoryBuffers; anything else could run arbitrary code, '
            'so nothing from this file was executed. If you wrote it yourself '
            'and trust it, load it with torch.load(path, weights_only=False) '
            'and save only its state_dict.')


def state_dict_of(checkpoint, filename='checkpoint') -> dict:
    """The weights of an mmengine checkpoint (``state_dict``) or of a plain
    state dict, with DDP's ``module.`` prefix removed."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f'{filename!r} holds a {type(checkpoint).__name__}, not a state '
            'dict or an mmengine checkpoint')
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f'{filename!r} has no state dict of tensors (keys: '
            f'{", ".join(map(str, list(checkpoint)[:8]))})')
    fixed = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())
    # Modules read their format version from the metadata (e.g. BN's).
    fixed._metadata = getattr(state, '_metadata', OrderedDict())
    return fixed
