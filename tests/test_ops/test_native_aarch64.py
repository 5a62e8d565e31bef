"""mmbnn/ops/csrc/'s sources built for aarch64 (Debian's
g++-aarch64-linux-gnu) as the first-use build compiles them, and run under
qemu-aarch64 (Debian's qemu-user): the NEON path and the scalar path of an
ARM build, bit-exact against the PyTorch reference
computed here, on the packed conv's shape grid (tests/reference.py), the
fused output transform, packing and the training estimators; the
benchmark's ceiling probes run there.

Skipped, saying so, where the cross compiler or qemu is missing; the
set-up installs both where it can (tools/setup_env.sh). Speed on a real
ARM board cannot be measured here."""
import os.path as osp
import shutil
import struct
import subprocess

import pytest
import torch

from mmbnn.ops.bits import pack_bit_words
from mmbnn.ops.native import _SOURCES, CSRC
from mmbnn.ops.xnor_conv import PackedWeight, pack_activations, xnor_conv2d
from reference import XNOR_CONV_GRID

CXX = shutil.which('aarch64-linux-gnu-g++')
QEMU = shutil.which('qemu-aarch64')
pytestmark = pytest.mark.skipif(
    not (CXX and QEMU), reason='needs aarch64-linux-gnu-g++ and qemu-aarch64 '
    '(Debian: g++-aarch64-linux-gnu, qemu-user)')
DRIVER = osp.join(osp.dirname(osp.abspath(__file__)), 'native', 'driver.cpp')
PATHS = ('neon', 'scalar')  # the driver's order


@pytest.fixture(scope='module')
def driver(tmp_path_factory):
    """The library and the driver, built for aarch64 as the first-use build
    compiles the library (-O3, OpenMP, no FP contraction), linked
    statically so that qemu needs no ARM system root."""
    exe = str(tmp_path_factory.mktemp('aarch64') / 'driver')
    subprocess.run([CXX, '-O3', '-fopenmp', '-ffp-contract=off', '-std=c++17',
                    '-static', '-I', CSRC, *_SOURCES, DRIVER,
                    '-o', exe], check=True, capture_output=True, timeout=600)
    return exe


class Cases:
    """The driver's input file, and what each case expects back."""

    def __init__(self):
        self.parts, self.count, self.expected = [], 0, []

    def case(self, kind, params, blobs, expected):
        self.parts.append(struct.pack(f'<{2 + len(params)}q', 0, kind, *params)[8:])
        for b in blobs:
            data = b'' if b is None else b.contiguous().numpy().tobytes()
            self.parts.append(struct.pack('<q', len(data)) + data)
        self.count += 1
        self.expected.append((kind, expected))

    def run(self, exe, tmp_path):
        cases, results = tmp_path / 'cases.bin', tmp_path / 'results.bin'
        cases.write_bytes(struct.pack('<q', self.count) + b''.join(self.parts))
        done = subprocess.run([QEMU, exe, str(cases), str(results)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        data, at = results.read_bytes(), 0
        blobs = []
        while at < len(data):
            n, = struct.unpack_from('<q', data, at)
            blobs.append(data[at + 8:at + 8 + n])
            at += 8 + n
        return blobs


def _tensor(raw, like):
    return torch.frombuffer(bytearray(raw), dtype=like.dtype).view(like.shape)


def _conv_case(cases, x, w, groups, stride, padding, dilation, alpha=None,
               beta=None, residual=None, clip=False, from_float=False):
    n, c, h, wd = x.shape
    o = w.shape[0]
    weight = PackedWeight(pack_bit_words((w >= 0).permute(0, 2, 3, 1)), c,
                          groups)
    alpha = torch.ones(o) if alpha is None else alpha
    beta = torch.zeros(o) if beta is None else beta
    y, bits = xnor_conv2d(x, weight, stride, padding, dilation, alpha, beta,
                          residual, clip, want_bits=True, isa='reference')
    oh, ow = y.shape[2:]
    rs = residual.stride() if residual is not None else (0, 0, 0, 0)
    params = [n, h, wd, groups, c // groups, o // groups, *weight.kernel_size,
              *stride, *padding, *dilation, *rs, int(clip), 1, oh, ow]
    packed = None if from_float else pack_activations(x, groups, 'reference')
    floats = x.permute(0, 2, 3, 1) if from_float else None
    cases.case(0, params, [packed, floats, weight.blocks, weight.popcounts,
                           alpha, beta, residual],
               [y.permute(0, 2, 3, 1).contiguous(), bits])


def test_aarch64_build_is_bit_exact_on_every_path(driver, tmp_path):
    gen = torch.Generator().manual_seed(0)
    cases = Cases()
    for i, (cin, cout, k, s, p, d, g) in enumerate(XNOR_CONV_GRID):
        x = torch.randn(2, cin, 9, 7, generator=gen)
        x[0, :, 0, 0] = 0.0  # sign(0) = +1
        w = torch.randn(cout, cin // g, k, k, generator=gen)
        _conv_case(cases, x, w, g, (s, s), (p, p), (d, d),
                   from_float=bool(i % 2))
    # The fused output transform: scale, shift, residual, Hardtanh.
    for cin, cout in ((64, 64), (70, 130)):
        x = torch.randn(1, cin, 6, 5, generator=gen)
        w = torch.randn(cout, cin, 3, 3, generator=gen)
        _conv_case(cases, x, w, 1, (1, 1), (1, 1), (1, 1),
                   torch.rand(cout, generator=gen) * 0.1,
                   torch.randn(cout, generator=gen),
                   torch.randn(1, cout, 6, 5, generator=gen), clip=True)
    for c, g in ((3, 1), (64, 1), (130, 2), (200, 5)):
        x = torch.randn(2, c, 4, 3, generator=gen)
        x[0, 0] = -0.0
        cases.case(1, [2 * 4 * 3, c, g], [x.permute(0, 2, 3, 1)],
                   [pack_activations(x, g, 'reference')])
    x = torch.randn(5000, generator=gen) * 3
    x[:4] = torch.tensor([0.0, -0.0, 30.0, -30.0])
    grad = torch.randn(5000, generator=gen)
    for k, t in ((1.0, 1.0), (10.0, 0.1), (1.0, 7.5)):
        u = (t * x.double()).abs()
        want = grad.double() * k * t * (1 - torch.tanh(u) ** 2)
        cases.case(2, [], [x, grad, torch.tensor([k, t])],
                   [torch.where(x >= 0, 1.0, -1.0), want, k * t])

    cases.case(3, [], [], [])
    results = iter(cases.run(driver, tmp_path))
    for index, (kind, expected) in enumerate(cases.expected):
        if kind == 0:
            y, bits = expected
            for path in PATHS:
                got_y = _tensor(next(results), y)
                got_bits = _tensor(next(results), bits)
                assert torch.equal(got_y, y), (index, path)
                assert torch.equal(got_bits, bits), (index, path)
        elif kind == 1:
            words, = expected
            for path in PATHS:
                assert torch.equal(_tensor(next(results), words), words), (
                    index, path)
        elif kind == 3:
            # The benchmark's probes run there: NEON's XNOR-popcount and FMA
            # loops and the scalar one (rates positive), none for AVX2.
            neon_xnor, neon_fma, scalar_xnor, avx2 = struct.unpack(
                '<4d', next(results))
            assert min(neon_xnor, neon_fma, scalar_xnor) > 0 and avx2 == -1
        else:
            sign, want, kt = expected
            assert torch.equal(_tensor(next(results), sign), sign), index
            grads = [_tensor(next(results), sign) for _ in PATHS]
            assert torch.equal(grads[0], grads[1]), index
            # float32 rounding of the same function: ~1e-7 of its peak k t
            # (test_native's bound for the x86 paths).
            torch.testing.assert_close(grads[0].double(), want, rtol=1e-5,
                                       atol=4e-6 * kt)
    assert next(results, None) is None
