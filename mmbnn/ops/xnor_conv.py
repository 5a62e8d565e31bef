"""The XNOR-popcount binary convolution on packed sign bits, and the packing
layouts it reads (docs/deploy.md), on the native library's kernels
(``native``) or a pure PyTorch reference path with the same results.

Bits are ``ops.bits``' words: activations ``[N, H, W, G * ceil(Cg / 64)]``
int64 (a pixel's channels, each group starting a new word), weights
``[O, KH, KW, ceil(Cg / 64)]``.
"""
import torch
import torch.nn.functional as F

from . import native
from .bits import pack_bit_words, unpack_bit_words
from .native import BLOCK, ISA_CODES, library, select_isa

__all__ = ['pack_activations', 'PackedWeight', 'xnor_conv2d']


def pack_activations(x: torch.Tensor, groups: int = 1, isa: str = None,
                     threads: int = None) -> torch.Tensor:
    """Sign bits (``x >= 0``) of a float32 ``[N, C, H, W]`` tensor (NCHW or
    channels-last) as int64 words ``[N, H, W, groups * ceil(C / groups / 64)]``,
    each group's channels starting a new word."""
    isa = select_isa(isa)
    n, c, h, w = x.shape
    cg = c // groups
    cgw = (cg + 63) // 64
    if isa == 'reference' or x.dtype != torch.float32 or x.device.type != 'cpu':
        bits = (x >= 0).permute(0, 2, 3, 1).reshape(n, h, w, groups, cg)
        return pack_bit_words(bits).reshape(n, h, w, groups * cgw)
    # The kernels read a pixel's channels contiguously.
    x = x.contiguous(memory_format=torch.channels_last)
    out = torch.empty(n, h, w, groups * cgw, dtype=torch.int64)
    library().mmbnn_pack(x.data_ptr(), n * h * w, c, groups, out.data_ptr(),
                         ISA_CODES[isa], native.threads(threads))
    return out


class PackedWeight:
    """A binary conv's weight signs in the kernels' layouts.

    ``bits``: int64 ``[O, KH, KW, Cgw]`` (the file layout); ``blocks``: the
    same words regrouped ``BLOCK`` output channels at a time; ``popcounts``:
    int32 ``[G, blocks, KH * KW, BLOCK]``, each output channel's count of
    ones in each tap (what a padded tap subtracts), grouped as the blocks.
    """
    BLOCK = BLOCK

    def __init__(self, bits: torch.Tensor, in_channels: int, groups: int):
        o, kh, kw, cgw = bits.shape
        if o % groups or in_channels % groups:
            raise ValueError(f'{o} output and {in_channels} input channels do '
                             f'not split into {groups} groups')
        if cgw != (in_channels // groups + 63) // 64:
            raise ValueError(f'packed weight has {cgw} words per tap, '
                             f'{in_channels // groups} channels per group need '
                             f'{(in_channels // groups + 63) // 64}')
        self.bits, self.in_channels, self.groups = bits.contiguous(), \
            in_channels, groups
        self.out_channels, self.kernel_size = o, (kh, kw)
        self.blocks = self._by_blocks(bits.view(o, kh * kw * cgw), groups)
        # The AVX2 kernel's operands: each byte's low and high nibble.
        self.low_nibbles = self.blocks & _NIBBLES
        self.high_nibbles = (self.blocks >> 4) & _NIBBLES
        # Per output channel and tap, what a padded tap (zero words) meets,
        # laid out as the blocks.
        by = bits.contiguous().view(torch.uint8).view(o, kh * kw, cgw * 8)
        self.popcounts = self._by_blocks(
            _BYTE_POPCOUNT[by.long()].sum(-1, dtype=torch.int32), groups)

    @classmethod
    def _by_blocks(cls, per_channel: torch.Tensor, groups: int):
        """``[O, L]`` per output channel as ``[G, blocks, L, BLOCK]``:
        ``BLOCK`` output channels contiguous, a group's last block padded
        with zero channels."""
        o, length = per_channel.shape
        og = o // groups
        nb = (og + cls.BLOCK - 1) // cls.BLOCK
        t = F.pad(per_channel.view(groups, og, length),
                  (0, 0, 0, nb * cls.BLOCK - og))
        return t.view(groups, nb, cls.BLOCK, length).transpose(2, 3) \
            .contiguous()

    def signs(self) -> torch.Tensor:
        """The weight as +-1 float32 ``[O, Cg, KH, KW]``."""
        bits = unpack_bit_words(self.bits, self.in_channels // self.groups)
        return (bits.float() * 2 - 1).permute(0, 3, 1, 2).contiguous()


_NIBBLES = 0x0f0f0f0f0f0f0f0f
_BYTE_POPCOUNT = torch.tensor([bin(i).count('1') for i in range(256)],
                              dtype=torch.int32)


def _reference_conv(packed, weight, in_channels, stride, padding, dilation,
                    alpha, beta, residual, clip):
    n, h, w, _ = packed.shape
    g = weight.groups
    cg = in_channels // g
    bits = unpack_bit_words(packed.view(n, h, w, g, -1), cg).reshape(n, h, w, -1)
    x = bits.permute(0, 3, 1, 2).float() * 2 - 1
    dot = F.conv2d(x, weight.signs(), None, stride, padding, dilation, g)
    y = alpha.view(1, -1, 1, 1) * dot
    y = y + beta.view(1, -1, 1, 1)
    if residual is not None:
        y = y + residual
    if clip:
        y = y.clamp(-1, 1)
    return y.contiguous(memory_format=torch.channels_last)


def xnor_conv2d(x: torch.Tensor, weight: PackedWeight, stride=(1, 1),
                padding=(0, 0), dilation=(1, 1), alpha: torch.Tensor = None,
                beta: torch.Tensor = None, residual: torch.Tensor = None,
                clip: bool = False, packed: torch.Tensor = None,
                want_bits: bool = False, isa: str = None, threads: int = None):
    """``alpha * conv(sign(x), sign(W)) + beta (+ residual)``, clipped to
    [-1, 1] if ``clip``; zero padding adds nothing (exact).

    ``x``: float32 ``[N, C, H, W]`` (any memory format); ``packed``, if
    given, is its ``pack_activations`` and ``x`` is not read. Returns the
    output as a channels-last float32 tensor, and with ``want_bits`` also its
    sign bits packed for a next layer with one group (else None).
    """
    isa = select_isa(isa)
    n, c, h, w = x.shape
    if c != weight.in_channels:
        raise ValueError(f'input has {c} channels, the layer takes '
                         f'{weight.in_channels}')
    o, (kh, kw) = weight.out_channels, weight.kernel_size
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f'input {h}x{w} is smaller than the {kh}x{kw} kernel')
    alpha = (torch.ones(o) if alpha is None else alpha).float().contiguous()
    beta = (torch.zeros(o) if beta is None else beta).float().contiguous()
    if residual is not None and (residual.shape != (n, o, oh, ow)
                                 or residual.dtype != torch.float32):
        raise ValueError(f'residual must be float32 {(n, o, oh, ow)}, got '
                         f'{residual.dtype} {tuple(residual.shape)}')
    words = weight.groups * ((c // weight.groups + 63) // 64)
    if packed is not None and (packed.shape != (n, h, w, words) or
                               packed.dtype != torch.int64 or
                               not packed.is_contiguous()):
        raise ValueError(f'packed input must be contiguous int64 '
                         f'{(n, h, w, words)}, got {packed.dtype} '
                         f'{tuple(packed.shape)}')
    if isa == 'reference':
        if packed is None:
            packed = pack_activations(x, weight.groups, isa)
        y = _reference_conv(packed, weight, c, stride, padding, dilation,
                            alpha, beta, residual, clip)
        bits = pack_activations(y, 1, 'reference') if want_bits else None
        return y, bits
    if packed is None and (x.dtype != torch.float32 or x.device.type != 'cpu'):
        packed = pack_activations(x, weight.groups, isa)
    if packed is None:  # the library packs it
        x = x.contiguous(memory_format=torch.channels_last)
    out = torch.empty(n, oh, ow, o, dtype=torch.float32)
    bits = (torch.empty(n, oh, ow, (o + 63) // 64, dtype=torch.int64)
            if want_bits else None)
    rs = residual.stride() if residual is not None else (0, 0, 0, 0)
    status = library().mmbnn_conv(
        None if packed is None else packed.data_ptr(),
        x.data_ptr() if packed is None else None, n, h, w,
        weight.blocks.data_ptr(), weight.low_nibbles.data_ptr(),
        weight.high_nibbles.data_ptr(), weight.popcounts.data_ptr(),
        weight.groups, c // weight.groups, o // weight.groups, kh, kw, *stride,
        *padding, *dilation, alpha.data_ptr(), beta.data_ptr(),
        residual.data_ptr() if residual is not None else None, *rs, int(clip),
        out.data_ptr(), oh, ow, bits.data_ptr() if want_bits else None,
        ISA_CODES[isa], native.threads(threads))
    if status:
        raise RuntimeError(f'instruction set {isa!r} is not supported here')
    return out.permute(0, 3, 1, 2), bits
