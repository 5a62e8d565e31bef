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


def test_every_refusal_names_the_file_and_what_is_wrong(tmp_path):
    """The reader's message for each way a file can be wrong, in full."""
    import json
    import zlib
    path = str(tmp_path / 'm.mmbnn')
    write_packed(path, dict(w=torch.arange(6, dtype=torch.int32).view(2, 3)))
    data = open(path, 'rb').read()
    length = struct.unpack_from('<I', data, 12)[0]
    entries = json.loads(data[20:20 + length])['tensors']
    bad = str(tmp_path / 'bad.mmbnn')

    def message(blob):
        with open(bad, 'wb') as f:
            f.write(blob)
        with pytest.raises(PackedFileError) as e:
            read_packed(bad)
        prefix = f'{bad!r} is not a readable mmbnn model file: '
        assert str(e.value).startswith(prefix)
        return str(e.value)[len(prefix):]

    def with_header(header):
        header = json.dumps(header).encode()
        return (b'MMBNNPK\0' + struct.pack('<III', FORMAT_VERSION, len(header),
                                           zlib.crc32(header)) + header)

    with pytest.raises(FileNotFoundError) as e:
        read_packed(str(tmp_path / 'none.mmbnn'))
    assert str(e.value) == f"model file {str(tmp_path / 'none.mmbnn')!r} does not exist"
    assert message(data[:19]) == ('19 bytes, shorter than the 20-byte prelude '
                                  '(truncated?)')
    # Exactly the prelude: read, then the header is missing.
    assert message(data[:20]) == (f'the header needs {length} bytes, the file '
                                  'has 0 after the prelude (truncated)')
    assert message(b'PK\x03\x04' + data[4:]) == (
        "it starts with b'PK\\x03\\x04NPK\\x00', not b'MMBNNPK\\x00' (another "
        'format; tools/deploy/export.py writes this one)')
    header = bytearray(data)
    header[25] ^= 1
    assert message(bytes(header)) == ('the header fails its CRC-32 check '
                                      '(corrupted)')
    assert message(with_header([1])) == (
        'the header is not valid (list indices must be integers or slices, '
        'not str)')
    entry = dict(entries[0])
    assert message(with_header(dict(meta={}, tensors=[
        dict(entry, dtype='bool')]))) == "tensor 'w' has unknown dtype 'bool'"
    assert message(with_header(dict(meta={}, tensors=[
        dict(entry, shape=[2, 4])]))) == (
        "tensor 'w': 24 bytes do not hold shape [2, 4] of int32")
    end = entry['offset'] + 24
    assert message(data[:end - 1]) == (f"tensor 'w' ends at byte {end}, the "
                                       f'file has {end - 1} (truncated)')


def test_tensors_start_at_the_first_64_byte_boundary_after_the_last():
    """Sizes that end on a boundary, one byte past it and one short of it:
    each tensor starts at the first 64-byte boundary at or after the end of
    the one before (the header's end for the first)."""
    import json
    import tempfile
    tensors = dict(a=torch.zeros(64, dtype=torch.uint8),
                   b=torch.zeros(1, dtype=torch.uint8),
                   c=torch.zeros(63, dtype=torch.uint8),
                   d=torch.zeros(2, dtype=torch.uint8))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'm.mmbnn')
        write_packed(path, tensors)
        data = open(path, 'rb').read()
    length = struct.unpack_from('<I', data, 12)[0]
    entries = json.loads(data[20:20 + length])['tensors']
    up = lambda n: -(-n // 64) * 64  # noqa: E731
    starts = [up(20 + length)]
    for entry in entries[:-1]:
        starts.append(up(starts[-1] + entry['nbytes']))
    assert [e['offset'] for e in entries] == starts
    assert starts[1] == starts[0] + 64 and starts[2] == starts[1] + 64
    assert len(data) == entries[-1]['offset'] + 2


def test_one_tensor_files_of_every_header_length_round_trip(tmp_path):
    """The header's length depends on its offsets' digits and the first
    tensor's offset on the header's length: names of 1 to 64 characters
    give headers of every length modulo the 64-byte alignment."""
    path = str(tmp_path / 'm.mmbnn')
    value = torch.arange(5, dtype=torch.int8)
    for n in range(1, 65):
        write_packed(path, {'w' * n: value})
        back, _ = read_packed(path)
        assert list(back) == ['w' * n] and torch.equal(back['w' * n], value), n
