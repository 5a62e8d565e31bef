"""mmbnn/deploy/packed_file.py: the .mmbnn round trip and its refusals."""
import os
import struct

import pytest
import torch

from mmbnn.deploy.packed_file import (FORMAT_VERSION, PackedFileError,
                                      read_packed, write_packed)


def test_packed_file_round_trip_and_refusals(tmp_path):
    tensors = dict(bits=torch.randint(0, 255, (3, 5), dtype=torch.uint8),
                   exp=torch.tensor([-3, 0, 5], dtype=torch.int8),
                   w=torch.randn(2, 3), h=torch.randn(4).half(),
                   empty=torch.zeros(0, 4))
    path = str(tmp_path / 'm.mmbnn')
    size = write_packed(path, tensors, dict(note='x'))
    assert size == os.path.getsize(path)
    back, meta = read_packed(path)
    assert meta == dict(note='x') and list(back) == list(tensors)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and torch.equal(back[name], t)
    data = open(path, 'rb').read()
    # Tensors are 64-byte aligned and laid out after the header.
    assert all(e % 64 == 0 for e in _offsets(data))

    def refused(blob, match):
        bad = str(tmp_path / 'bad.mmbnn')
        with open(bad, 'wb') as f:
            f.write(blob)
        with pytest.raises(PackedFileError, match=match):
            read_packed(bad)

    refused(data[:-10], r"tensor 'empty'|tensor 'h'.*truncated")
    refused(data[:10], 'shorter than the 20-byte prelude')
    refused(data[:40], 'truncated')
    flipped = bytearray(data)
    flipped[_offsets(data)[2] + 1] ^= 0x10  # a bit of 'w'
    refused(bytes(flipped), "tensor 'w' fails its CRC-32 check")
    header = bytearray(data)
    header[30] ^= 1
    refused(bytes(header), 'header fails its CRC-32')
    refused(data[:8] + struct.pack('<I', FORMAT_VERSION + 1) + data[12:],
            f'format version {FORMAT_VERSION + 1}; this mmbnn reads version '
            f'{FORMAT_VERSION}')
    refused(b'PK\x03\x04' + data[4:], 'not .*MMBNNPK')
    with pytest.raises(TypeError, match='bool cannot be stored'):
        write_packed(path, dict(b=torch.zeros(2, dtype=torch.bool)))


def _offsets(data):
    import json
    length = struct.unpack_from('<I', data, 12)[0]
    return [e['offset'] for e in json.loads(data[20:20 + length])['tensors']]
