"""The ``.mmbnn`` model file: bit-packed binary weights and the rest of a
converted model's tensors, with no pickle (docs/deploy.md).

Layout (little-endian)::

    magic     8 bytes  b'MMBNNPK\\0'
    version   uint32   FORMAT_VERSION
    length    uint32   bytes of the JSON header
    crc       uint32   CRC-32 of the JSON header
    header    JSON     {"meta": {...}, "tensors": [{"name", "dtype", "shape",
                        "offset", "nbytes", "crc32"}, ...]}
    data      the tensors' bytes, each at its offset (from the file start,
              64-byte aligned), C order

A reader refuses a file whose magic, version, header, sizes or any CRC do not
check out, naming what is wrong.
"""
import json
import os
import struct
import zlib
from collections import OrderedDict
from typing import Dict, Tuple

import numpy as np
import torch

from mmbnn.utils.checkpoint import CheckpointError
from mmbnn.utils.fileio import atomic_write_bytes

__all__ = ['FORMAT_VERSION', 'MAGIC', 'PackedFileError', 'write_packed',
           'read_packed']

MAGIC = b'MMBNNPK\0'
FORMAT_VERSION = 1
_PRELUDE = struct.Struct('<8sIII')
_ALIGN = 64
_DTYPES = {'uint8': torch.uint8, 'int8': torch.int8, 'int32': torch.int32,
           'int64': torch.int64, 'float16': torch.float16,
           'float32': torch.float32}


class PackedFileError(CheckpointError):
    """A ``.mmbnn`` file that cannot be read: truncated, corrupted, another
    format, or a format version this mmbnn does not know."""


def write_packed(path: str, tensors: Dict[str, torch.Tensor],
                 meta: dict = None) -> int:
    """Write ``tensors`` (name -> tensor of a dtype in ``_DTYPES``) and the
    JSON-serializable ``meta`` to ``path`` atomically; returns its size."""
    entries, blobs = [], []
    for name, tensor in tensors.items():
        dtype = str(tensor.dtype).replace('torch.', '')
        if dtype not in _DTYPES:
            raise TypeError(f'{name}: dtype {dtype} cannot be stored')
        data = tensor.detach().cpu().contiguous().numpy().tobytes()
        entries.append(dict(name=name, dtype=dtype, shape=list(tensor.shape),
                            nbytes=len(data), crc32=zlib.crc32(data)))
        blobs.append(data)
    # Offsets depend on the header's length, which depends on the offsets'
    # digits: fix the point with generous placeholders, then fill in.
    for entry in entries:
        entry['offset'] = 10 ** 15
    header_len = len(_header(entries, meta)) + 64
    offset = _aligned(_PRELUDE.size + header_len)
    for entry, blob in zip(entries, blobs):
        entry['offset'] = offset
        offset = _aligned(offset + len(blob))
    header = _header(entries, meta)
    header += b' ' * (header_len - len(header))
    out = bytearray(_PRELUDE.pack(MAGIC, FORMAT_VERSION, len(header),
                                  zlib.crc32(header)))
    out += header
    for entry, blob in zip(entries, blobs):
        out += b'\0' * (entry['offset'] - len(out))
        out += blob
    atomic_write_bytes(bytes(out), path)
    return len(out)


def _header(entries, meta) -> bytes:
    return json.dumps(dict(meta=meta or {}, tensors=entries),
                      separators=(',', ':')).encode()


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def read_packed(path: str) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """``(tensors, meta)`` of a ``.mmbnn`` file, every check passed."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'model file {path!r} does not exist')
    with open(path, 'rb') as f:
        data = f.read()

    def fail(why):
        raise PackedFileError(f'{path!r} is not a readable mmbnn model file: '
                              f'{why}')

    if len(data) < _PRELUDE.size:
        fail(f'{len(data)} bytes, shorter than the {_PRELUDE.size}-byte prelude '
             '(truncated?)')
    magic, version, length, crc = _PRELUDE.unpack_from(data)
    if magic != MAGIC:
        fail(f'it starts with {magic!r}, not {MAGIC!r} (another format; '
             'tools/deploy/export.py writes this one)')
    if version != FORMAT_VERSION:
        fail(f'format version {version}; this mmbnn reads version '
             f'{FORMAT_VERSION} (export it again with this mmbnn)')
    header = data[_PRELUDE.size:_PRELUDE.size + length]
    if len(header) != length:
        fail(f'the header needs {length} bytes, the file has {len(header)} '
             'after the prelude (truncated)')
    if zlib.crc32(header) != crc:
        fail('the header fails its CRC-32 check (corrupted)')
    try:
        parsed = json.loads(header)
        meta, entries = parsed['meta'], parsed['tensors']
    except (ValueError, KeyError, TypeError) as err:
        fail(f'the header is not valid ({err})')
    tensors = OrderedDict()
    for entry in entries:
        name, offset, nbytes = entry['name'], entry['offset'], entry['nbytes']
        if entry['dtype'] not in _DTYPES:
            fail(f'tensor {name!r} has unknown dtype {entry["dtype"]!r}')
        dtype = _DTYPES[entry['dtype']]
        numel = int(np.prod(entry['shape'], dtype=np.int64))
        if numel * torch.empty((), dtype=dtype).element_size() != nbytes:
            fail(f'tensor {name!r}: {nbytes} bytes do not hold shape '
                 f'{entry["shape"]} of {entry["dtype"]}')
        if offset + nbytes > len(data):
            fail(f'tensor {name!r} ends at byte {offset + nbytes}, the file '
                 f'has {len(data)} (truncated)')
        blob = data[offset:offset + nbytes]
        if zlib.crc32(blob) != entry['crc32']:
            fail(f'tensor {name!r} fails its CRC-32 check (corrupted)')
        array = np.frombuffer(blob, dtype=str(dtype).replace('torch.', ''))
        tensors[name] = torch.from_numpy(array.copy()).reshape(entry['shape'])
    return tensors, meta
