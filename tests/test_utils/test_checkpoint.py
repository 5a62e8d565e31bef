"""mmbnn/utils/checkpoint.py: what mmengine writes loads; anything else is
refused before it can run; files that are no checkpoint get one line."""
import os
import pickle
import subprocess
import zipfile

import numpy as np
import pytest
import torch

from mmbnn.utils.checkpoint import (CheckpointError, UnsafeCheckpointError,
                                    read_checkpoint, state_dict_of)


def _roundtrip(tmp_path, obj):
    path = tmp_path / 'ckpt.pth'
    torch.save(obj, path)
    return read_checkpoint(str(path), map_location='cpu')


NUMPY_SCALARS = [np.bool_(True), np.int8(-3), np.uint8(250), np.int16(-9),
                 np.uint16(9), np.int32(-7), np.uint32(7), np.int64(-2**40),
                 np.uint64(2**63), np.float16(0.5), np.float32(1.25),
                 np.float64(-2.5), np.longdouble(3.5), np.complex64(1 + 2j),
                 np.complex128(-1j), np.str_('voc'), np.bytes_(b'x\x00y'),
                 np.datetime64('2026-11-25T08:00'), np.timedelta64(3, 'h')]


@pytest.mark.parametrize('value', NUMPY_SCALARS,
                         ids=[type(v).__name__ for v in NUMPY_SCALARS])
def test_numpy_scalars_of_every_dtype_load(tmp_path, value):
    loaded = _roundtrip(tmp_path, {'meta': {'v': value}})['meta']['v']
    assert type(loaded) is type(value) and loaded == value


@pytest.mark.parametrize('dtype', ['float64', 'float32', 'int64', 'bool', 'U4'])
def test_empty_and_filled_arrays_load(tmp_path, dtype):
    empty = np.zeros((0, 3), dtype=dtype)
    filled = np.ones((2, 2), dtype=dtype)
    loaded = _roundtrip(tmp_path, {'e': empty, 'f': filled})
    assert loaded['e'].shape == (0, 3) and loaded['e'].dtype == empty.dtype
    np.testing.assert_array_equal(loaded['f'], filled)


def test_empty_and_filled_history_buffers_load(tmp_path):
    from mmengine.logging import HistoryBuffer
    empty, filled = HistoryBuffer(), HistoryBuffer()
    for v in (1.0, 2.0, 6.0):
        filled.update(v)
    loaded = _roundtrip(tmp_path, {'hub': {'empty': empty, 'filled': filled}})
    assert len(loaded['hub']['empty'].data[0]) == 0
    assert loaded['hub']['filled'].mean() == pytest.approx(3.0)
    assert loaded['hub']['filled'].max() == 6.0


def test_ddp_prefixed_state_dict_is_unwrapped():
    state = state_dict_of({'state_dict': {'module.0.weight': torch.ones(1)}})
    assert list(state) == ['0.weight']


class _Payload:
    """Pickles as ``fn(*args)``: what a hostile checkpoint hides."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _chain_to_os_system(marker):
    """getattr(getattr(HistoryBuffer, '__init__'), '__globals__')... : walking
    from an allowlisted class to arbitrary code."""
    from mmengine.logging import HistoryBuffer

    class Chain:
        def __reduce__(self):
            init = _Payload(getattr, HistoryBuffer, '__init__')
            return getattr, (_Payload(getattr, init, '__globals__'), 'get')
    return Chain()


def _object_array(marker):
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload(os.system, f'touch {marker}')
    return arr


TRICKS = {
    'os.system': lambda m: _Payload(os.system, f'touch {m}'),
    'builtins.eval': lambda m: _Payload(eval, f"open({str(m)!r}, 'w')"),
    'builtins.exec': lambda m: _Payload(exec, f"open({str(m)!r}, 'w')"),
    'subprocess.Popen': lambda m: _Payload(subprocess.Popen, ['touch', str(m)]),
    'getattr chain': _chain_to_os_system,
    'numpy object array': _object_array,
    'bytes(huge)': lambda m: _Payload(bytes, 10**12),
}


@pytest.mark.parametrize('trick', sorted(TRICKS))
def test_malicious_checkpoint_is_refused_and_nothing_runs(tmp_path, trick):
    from mmengine.runner.checkpoint import _load_checkpoint
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)},
                'meta': {'x': TRICKS[trick](marker)}}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path), map_location='cpu')  # mmengine's path
    assert 'evil.pth' in str(err.value) and 'nothing from this file' in str(err.value)
    assert isinstance(err.value, pickle.UnpicklingError)
    assert not marker.exists()


def test_the_os_system_payload_really_runs_when_loaded_unsafely(tmp_path):
    """The tricks are real: an unsafe load executes them."""
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'x': TRICKS['os.system'](marker)}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()


def _real_checkpoint(path):
    torch.save({'meta': {'epoch': 1}, 'state_dict': {
        'w': torch.randn(64, 64)}}, path)
    return path


def _write(path, data):
    path.write_bytes(data)
    return path


NOT_CHECKPOINTS = {
    'text file': (lambda p: _write(p, b'epoch 1: loss 0.5\n'), 'text file'),
    'empty file': (lambda p: _write(p, b''), 'empty'),
    'truncated': (lambda p: _write(p, _real_checkpoint(p).read_bytes()[:600]),
                  'truncated'),
    'corrupted middle': (lambda p: _write(p, _corrupt(_real_checkpoint(p))),
                         'corrupted'),
    'directory': (lambda p: (p.mkdir(), p)[1], 'directory'),
    'hdf5': (lambda p: _write(p, b'\x89HDF\r\n\x1a\n' + b'\0' * 64), 'HDF5'),
    'safetensors': (lambda p: _write(p, (20).to_bytes(8, 'little') +
                                     b'{"__metadata__":{}}' + b' ' * 8),
                    'safetensors'),
    'npy': (lambda p: (np.save(p.with_suffix('.npy'), np.ones(3)),
                       p.with_suffix('.npy').rename(p), p)[2], 'NumPy'),
    'zip without data.pkl': (lambda p: _zip(p), 'zip archive'),
}


def _corrupt(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 256] = b'\xff' * 256
    return bytes(data)


def _zip(path):
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('model/weights.bin', b'1234')
    return path


@pytest.mark.parametrize('kind', sorted(NOT_CHECKPOINTS))
def test_not_a_checkpoint_is_one_clear_line(tmp_path, kind):
    make, expected = NOT_CHECKPOINTS[kind]
    path = make(tmp_path / 'model.pth')
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(str(path))
    message = str(err.value)
    assert str(path) in message and expected in message
    assert '\n' not in message
    # No unpickler traceback chained behind it.
    assert err.value.__cause__ is None
    assert err.value.__context__ is None or err.value.__suppress_context__


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        read_checkpoint(str(tmp_path / 'nothere.pth'))
