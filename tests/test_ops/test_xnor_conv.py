"""mmbnn/ops/xnor_conv.py: the XNOR-popcount conv against F.conv2d on +-1
tensors, on every instruction-set path the machine has."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from conftest import ISA_PATHS, force_isa, packed_weight
from mmbnn.ops import native
from mmbnn.ops.bits import pack_bit_words, unpack_bit_words
from mmbnn.ops.xnor_conv import PackedWeight, pack_activations, xnor_conv2d
from reference import XNOR_CONV_GRID as GRID
from reference import signs


@pytest.mark.parametrize('isa', ISA_PATHS)
def test_packed_conv_equals_conv2d_of_signs_on_every_path(monkeypatch, isa):
    force_isa(monkeypatch, isa)
    gen = torch.Generator().manual_seed(0)
    for i, (cin, cout, k, s, p, d, g) in enumerate(GRID):
        x = torch.randn(2, cin, 9, 7, generator=gen)
        x[0, :, 0, 0] = 0.0  # sign(0) = +1
        if i % 2:
            x = x.contiguous(memory_format=torch.channels_last)
        w = torch.randn(cout, cin // g, k, k, generator=gen)
        bits = pack_bit_words((w >= 0).permute(0, 2, 3, 1))
        weight = PackedWeight(bits, cin, g)
        y, _ = xnor_conv2d(x, weight, (s, s), (p, p), (d, d))
        expected = F.conv2d(signs(x), signs(w), None, s, p, d, g)
        assert torch.equal(y, expected), (cin, cout, k, s, p, d, g)


@pytest.mark.parametrize('isa', ISA_PATHS)
def test_wide_rows_every_pixel_tile(monkeypatch, isa):
    """Rows wide enough for every pixel tile of the kernels: runs of 8
    interior pixels (read in place, one shared offset table), runs that
    mix gathered border pixels with interior ones, and the 4-, 2- and
    1-pixel tails (output widths 8 to 23)."""
    force_isa(monkeypatch, isa)
    gen = torch.Generator().manual_seed(2)
    for width in range(8, 24):
        for cin, s, p in ((64, 1, 1), (130, 1, 0), (65, 2, 1)):
            x = torch.randn(1, cin, 4, width * s, generator=gen)
            w = torch.randn(16, cin, 3, 3, generator=gen)
            y, _ = xnor_conv2d(x, packed_weight(w), (s, s), (p, p))
            expected = F.conv2d(signs(x), signs(w), None, s, p)
            assert torch.equal(y, expected), (width, cin, s, p)


@pytest.mark.parametrize('isa', ISA_PATHS)
def test_fused_output_transform_on_every_path(monkeypatch, isa):
    """alpha * dot + beta + residual, Hardtanh, and the next layer's sign
    bits, rounded as PyTorch's separate ops round them: the residual in
    either layout (a channels-last one, as a network hands it on, takes
    AVX-512's in-register transform), rows of 3 and 11 interior pixels
    (tiles of 8, 2 and 1), a last block of 2 channels (130)."""
    force_isa(monkeypatch, isa)
    gen = torch.Generator().manual_seed(1)
    for (cin, cout), width, layout in itertools.product(
            ((64, 64), (70, 130)), (5, 13),
            (torch.contiguous_format, torch.channels_last)):
        x = torch.randn(1, cin, 6, width, generator=gen)
        w = torch.randn(cout, cin, 3, 3, generator=gen)
        alpha = torch.rand(cout, generator=gen) * 0.1
        beta = torch.randn(cout, generator=gen)
        res = torch.randn(1, cout, 6, width, generator=gen).contiguous(
            memory_format=layout)
        y, bits = xnor_conv2d(
            x, packed_weight(w), (1, 1), (1, 1), (1, 1), alpha, beta, res, clip=True,
            want_bits=True)
        dot = F.conv2d(signs(x), signs(w), None, 1, 1)
        expected = (alpha.view(1, -1, 1, 1) * dot + beta.view(1, -1, 1, 1) +
                    res).clamp(-1, 1)
        assert torch.equal(y, expected)
        unpacked = unpack_bit_words(bits, cout).permute(0, 3, 1, 2)
        assert torch.equal(unpacked, expected >= 0)
        assert bits.shape == (1, 6, width, (cout + 63) // 64)


@pytest.mark.parametrize('isa', ISA_PATHS)
def test_threads_split_rows_and_channel_ranges_alike(monkeypatch, isa):
    """A small map with many channels is split across threads by ranges of
    64 output channels; every thread count gives the one-thread result
    (200 channels: 25 blocks of 8, the last one alone in its pass)."""
    force_isa(monkeypatch, isa)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 70, 3, 4, generator=gen)
    w = torch.randn(200, 70, 3, 3, generator=gen)
    alpha, beta = torch.rand(200, generator=gen), torch.randn(200, generator=gen)
    runs = [xnor_conv2d(x, packed_weight(w), (1, 1), (1, 1), (1, 1), alpha,
                                beta, want_bits=True, threads=threads)
            for threads in (1, 2, 3, 8)]
    dot = F.conv2d(signs(x), signs(w), None, 1, 1)
    expected = alpha.view(1, -1, 1, 1) * dot + beta.view(1, -1, 1, 1)
    for y, bits in runs:
        assert torch.equal(y, expected)
        # Every word, the last one's 56 unused bits (0) included.
        assert torch.equal(bits, pack_activations(expected, 1, 'reference'))


def test_zero_padding_adds_nothing_by_hand(monkeypatch):
    """All +1 input and weights, 3x3, padding 1: a corner sees 4 taps, an
    edge 6, the inside 9 (a padded zero is neither +1 nor -1)."""
    for isa in native.available_isas():
        monkeypatch.setenv('MMBNN_ISA', isa)
        y, _ = xnor_conv2d(torch.ones(1, 3, 4, 4),
                                   packed_weight(torch.ones(2, 3, 3, 3)), (1, 1),
                                   (1, 1))
        per_channel = torch.tensor([[4., 6, 6, 4], [6, 9, 9, 6],
                                    [6, 9, 9, 6], [4, 6, 6, 4]]) * 3
        assert torch.equal(y[0, 0], per_channel), isa
        assert torch.equal(y[0, 1], per_channel), isa


def test_conv_arguments_that_do_not_fit_are_refused():
    weight = packed_weight(torch.ones(8, 70, 3, 3))
    x = torch.ones(1, 70, 5, 5)
    with pytest.raises(ValueError, match='input has 69 channels, the layer '
                       'takes 70'):
        xnor_conv2d(x[:, :69], weight)
    with pytest.raises(ValueError, match='smaller than the 3x3 kernel'):
        xnor_conv2d(x[:, :, :2, :2], weight)
    with pytest.raises(ValueError, match=r'residual must be float32 '
                       r'\(1, 8, 3, 3\)'):
        xnor_conv2d(x, weight, residual=torch.zeros(1, 8, 5, 5))
    with pytest.raises(ValueError, match=r'packed input must be contiguous '
                       r'int64 \(1, 5, 5, 2\)'):
        xnor_conv2d(x, weight, packed=torch.zeros(1, 5, 5, 1,
                                                          dtype=torch.int64))
    with pytest.raises(ValueError, match='do not split into 3 groups'):
        PackedWeight(weight.bits, 70, 3)
    # Output channels that do not split, input channels that do.
    with pytest.raises(ValueError, match='8 output and 70 input channels do '
                       'not split into 5 groups'):
        PackedWeight(weight.bits, 70, 5)
    with pytest.raises(ValueError) as e:
        PackedWeight(weight.bits, 64, 1)
    assert e.value.args[0] == ('packed weight has 2 words per tap, 64 channels '
                               'per group need 1')
    with pytest.raises(ValueError) as e:
        PackedWeight(weight.bits[:, :, :, :1], 65, 1)
    assert e.value.args[0] == ('packed weight has 1 words per tap, 65 channels '
                               'per group need 2')
    with pytest.raises(ValueError) as e:
        PackedWeight(weight.bits[:, :, :, :1], 140, 2)
    assert e.value.args[0] == ('packed weight has 1 words per tap, 70 channels '
                               'per group need 2')


@pytest.mark.parametrize('isa', ISA_PATHS)
def test_pack_activations_of_any_layout_and_dtype(monkeypatch, isa):
    """The packed sign bits of [N, C, H, W] inputs, NCHW or channels-last,
    in float32 (the library) or other dtypes (PyTorch), per group, against
    pack_bits of the signs taken by hand; 0 and -0 give a 1 bit, NaN a 0
    bit (as ``x >= 0``), also in a word's last, partly filled lanes."""
    force_isa(monkeypatch, isa)
    x = torch.randn(2, 70, 3, 5, generator=torch.Generator().manual_seed(11))
    x[1, 3, 2, 4] = 0.0
    x[0, 68, 1, 1], x[0, 69, 1, 1] = -0.0, float('nan')
    x[1, 33, 0, 0] = float('nan')
    for groups in (1, 2):
        bits = (x >= 0).permute(0, 2, 3, 1).reshape(2, 3, 5, groups, -1)
        expected = pack_bit_words(bits).reshape(2, 3, 5, -1)
        for t in (x, x.contiguous(memory_format=torch.channels_last),
                  x.double(), x.half()):
            assert torch.equal(pack_activations(t, groups), expected)


@pytest.mark.parametrize('isa', ISA_PATHS)
def test_unequal_height_and_width_settings_and_a_packed_input(monkeypatch, isa):
    """Stride, padding and dilation that differ between height and width;
    the input given already packed (as a fused block hands it on, ``x`` not
    read) or as float32 and as another dtype; the output's sign bits only
    when asked for."""
    force_isa(monkeypatch, isa)
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(2, 65, 11, 9, generator=gen)  # a word and one bit
    w = torch.randn(16, 65, 3, 2, generator=gen)
    weight = packed_weight(w)
    geometry = dict(stride=(2, 1), padding=(0, 2), dilation=(1, 3))
    expected = F.conv2d(signs(x), signs(w), None, **geometry)
    y, bits = xnor_conv2d(x, weight, **geometry)
    assert bits is None and torch.equal(y, expected)
    packed = pack_activations(x)  # one group by default
    y, bits = xnor_conv2d(torch.full_like(x, float('nan')), weight,
                          packed=packed, want_bits=True, **geometry)
    assert torch.equal(y, expected)
    assert torch.equal(bits, pack_activations(expected, 1, 'reference'))
    y, _ = xnor_conv2d(x.double(), weight, **geometry)
    assert torch.equal(y, expected)


def test_conv_refusals_at_their_boundaries():
    """An output of one row (or column) is computed, of none refused; an
    instruction set that does not exist is refused, not ignored."""
    weight = packed_weight(torch.ones(8, 70, 3, 3))
    for h, w in ((3, 5), (5, 3)):
        y, _ = xnor_conv2d(torch.ones(1, 70, h, w), weight)
        assert y.shape == (1, 8, h - 2, w - 2)
    for h, w in ((2, 5), (5, 2)):
        with pytest.raises(ValueError) as e:
            xnor_conv2d(torch.ones(1, 70, h, w), weight)
        assert e.value.args[0] == f'input {h}x{w} is smaller than the 3x3 kernel'
    with pytest.raises(ValueError, match="unknown instruction set 'nope'"):
        xnor_conv2d(torch.ones(1, 70, 5, 5), weight, isa='nope')
    with pytest.raises(ValueError, match="unknown instruction set 'nope'"):
        pack_activations(torch.ones(1, 70, 5, 5), 1, isa='nope')
    packed = pack_activations(torch.ones(1, 70, 5, 5), 1)
    for bad in (packed.int(), packed.transpose(1, 2)):
        with pytest.raises(ValueError, match='packed input must be contiguous '
                           r'int64 \(1, 5, 5, 2\)'):
            xnor_conv2d(torch.ones(1, 70, 5, 5), weight, packed=bad)
