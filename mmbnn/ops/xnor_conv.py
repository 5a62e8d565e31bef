"""The XNOR-popcount binary convolution on packed sign bits, and the packing
layouts it reads (docs/deploy.md), on the native library's kernels
(``native``) or a pure PyTorch reference path with the same results.

Bits are ``ops.bits``' words: activations ``[N, H, W, G * ceil(Cg / 64)]``
int64 (a pixel's channels, each group starting a new word), weights
``[O, KH, KW, ceil(Cg / 64)]``.
"""
import ctypes

import torch
import torch.nn.functional as F

from . import native
from .bits import pack_bit_words, unpack_bit_words
from .native import BLOCK, ISA_CODES, library, select_isa

__all__ = ['pack_activations', 'PackedWeight', 'ConvCall', 'ConvChain',
           'ChainSequence', 'nchw_view', 'xnor_conv2d']


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


def _conv_shapes(shape, weight, stride, padding, dilation):
    """The packed input's shape ``[N, H, W, words]`` and the output's
    ``(N, O, OH, OW)`` of ``weight`` on an input of ``shape``, whose
    channels and size are checked."""
    n, c, h, w = shape
    if c != weight.in_channels:
        raise ValueError(f'input has {c} channels, the layer takes '
                         f'{weight.in_channels}')
    (kh, kw), g = weight.kernel_size, weight.groups
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f'input {h}x{w} is smaller than the {kh}x{kw} kernel')
    return (n, h, w, g * ((c // g + 63) // 64)), (n, weight.out_channels,
                                                   oh, ow)


def _check_packed(packed, shape):
    if packed.shape != shape or packed.dtype != torch.int64 or \
            not packed.is_contiguous():
        raise ValueError(f'packed input must be contiguous int64 {shape}, got '
                         f'{packed.dtype} {tuple(packed.shape)}')


def _check_residual(residual, shape):
    if residual.shape != shape or residual.dtype != torch.float32:
        raise ValueError(f'residual must be float32 {shape}, got '
                         f'{residual.dtype} {tuple(residual.shape)}')


class ConvCall:
    """One native conv, prepared: the library's arguments (``mmbnn_conv``'s,
    in one int64 array) checked and laid out once for a weight, an input
    shape and an output transform, so that a call only passes the
    addresses of its input, residual and outputs. What a layer keeps
    between calls of the same shape (``XnorConv2d``): the ~20 us of Python
    and argument conversion around each call are then a few.

    ``shape``: the input's ``(N, C, H, W)``; ``packed_input``: whether calls
    pass its ``pack_activations`` bits (else the float input, packed by the
    library); ``residual_stride``: the residual's strides, None for none.
    Holds ``weight``, ``alpha`` and ``beta`` (their addresses are in it).
    The array is only read after it is made: each call passes its tensors'
    addresses apart (``mmbnn_conv_chain``), so threads may share a call.
    """

    def __init__(self, shape, weight: PackedWeight, stride, padding, dilation,
                 alpha: torch.Tensor, beta: torch.Tensor, residual_stride,
                 clip: bool, want_bits: bool, packed_input: bool, isa: str,
                 threads: int):
        self.packed_shape, out = _conv_shapes(shape, weight, stride, padding,
                                              dilation)
        n, c, h, w = shape
        _, o, oh, ow = out
        (kh, kw), g = weight.kernel_size, weight.groups
        for name, t in (('alpha', alpha), ('beta', beta)):
            if t.shape != (o,) or t.dtype != torch.float32 or \
                    not t.is_contiguous():
                raise ValueError(f'{name} must be contiguous float32 ({o},), '
                                 f'got {t.dtype} {tuple(t.shape)}')
        self.weight, self.alpha, self.beta = weight, alpha, beta
        self.shape = tuple(shape)
        self.packed_input = packed_input
        self.residual_shape = out if residual_stride else None
        self.residual_stride = tuple(residual_stride or ())
        self.out_shape = (n, oh, ow, o)
        self.bits_shape = (n, oh, ow, (o + 63) // 64) if want_bits else None
        self.args = (ctypes.c_int64 * 34)(
            0, 0, n, h, w, weight.blocks.data_ptr(),
            weight.low_nibbles.data_ptr(), weight.high_nibbles.data_ptr(),
            weight.popcounts.data_ptr(), g, c // g, o // g, kh, kw, *stride,
            *padding, *dilation, alpha.data_ptr(), beta.data_ptr(), 0,
            *(residual_stride or (0, 0, 0, 0)), int(clip), 0, oh, ow, 0,
            ISA_CODES[isa], threads)
        self.isa = isa

    def __call__(self, x: torch.Tensor, packed: torch.Tensor = None,
                 residual: torch.Tensor = None):
        """The output (a channels-last view ``[N, O, OH, OW]``) and, if
        prepared for them, its sign bits; ``x`` is read when ``packed`` is
        not given (float32, CPU; channels-last saves a copy)."""
        self.check(x, packed, residual)
        return self.run(x, packed, residual)

    def check(self, x: torch.Tensor, packed: torch.Tensor = None,
              residual: torch.Tensor = None):
        """Raise ``ValueError`` unless a call on these is one this call was
        prepared for."""
        if (packed is not None) != self.packed_input:
            raise ValueError('prepared for a ' + (
                'packed' if self.packed_input else 'float') + ' input')
        if packed is not None:
            _check_packed(packed, self.packed_shape)
        elif x.shape != self.shape or x.dtype != torch.float32 or \
                x.device.type != 'cpu':
            raise ValueError(f'prepared for a float32 CPU input '
                             f'{self.shape}, got {x.dtype} {x.device.type} '
                             f'{tuple(x.shape)}')
        if (residual is None) != (self.residual_shape is None):
            raise ValueError('prepared ' + ('without' if residual is not None
                                             else 'with') + ' a residual')
        if residual is not None:
            _check_residual(residual, self.residual_shape)
            if residual.stride() != self.residual_stride:
                raise ValueError(f'prepared for a residual of strides '
                                 f'{self.residual_stride}, got '
                                 f'{residual.stride()}')

    def run(self, x: torch.Tensor, packed: torch.Tensor = None,
            residual: torch.Tensor = None):
        """``__call__`` without ``check``, for a caller that checked a
        first call and keys the rest on what ``check`` reads
        (``XnorConv2d``: the input's shape, packed or float, the residual's
        shape and strides; packed bits are a fused layer's output for this
        input, the residual float32). Input it was not prepared for reads
        or writes out of bounds here: use ``__call__``."""
        if packed is None:
            x = x.contiguous(memory_format=torch.channels_last)
        out, bits = self.outputs()
        _run_native(self.args, 1, x, packed, residual, out, bits, None,
                    None, self.isa)
        return out.permute(0, 3, 1, 2), bits

    def outputs(self):
        """New tensors for a call's output (channels-last ``[N, OH, OW,
        O]``) and sign bits (None unless prepared for them)."""
        out = torch.empty(self.out_shape, dtype=torch.float32)
        bits = None if self.bits_shape is None else torch.empty(
            self.bits_shape, dtype=torch.int64)
        return out, bits


def _address(t):
    return 0 if t is None else t.data_ptr()


def _inputs(x, packed, residual, shortcut):
    """The first three of a chain call's addresses: the packed input, the
    float input (read where there are no packed bits, or by a
    ``shortcut``'s prepared arguments; else 0) and the residual."""
    return (_address(packed),
            _address(x) if packed is None or shortcut is not None else 0,
            _address(residual))


def _scratch(nbytes):
    return torch.empty(nbytes, dtype=torch.uint8) if nbytes else None


def nchw_view(out_shape):
    """The ``(N, O, OH, OW)`` shape and strides of the NCHW view of a
    channels-last native output of ``out_shape`` ``(N, OH, OW, O)``: what
    a conv that adds it as its residual was prepared for."""
    n, oh, ow, o = out_shape
    return (n, o, oh, ow), (oh * ow * o, 1, ow * o, o)


def _reads(call, out_shape, residual):
    """Whether the prepared ``call`` reads the sign bits of a native output
    of ``out_shape`` (``(N, OH, OW, O)``) as its packed input and, with
    ``residual``, adds that output (channels-last) as its residual."""
    shape, stride = nchw_view(out_shape)
    return call.packed_input and call.shape == shape and (not residual or (
        call.residual_shape == shape and call.residual_stride == stride))


def _run_native(args, count, x, packed, residual, out, bits, scratch,
                shortcut, isa):
    """``mmbnn_conv_chain``: ``count`` prepared convs (``args``) on the
    first one's input (its ``packed`` bits, else the float ``x``) and
    ``residual`` (or, with a prepared ``shortcut``, its output for ``x``),
    the last one's outputs into ``out`` and ``bits``, the others' into
    ``scratch``. Each call passes its own addresses: the prepared arrays
    are only read, so threads may share them."""
    io = (ctypes.c_int64 * 6)(*_inputs(x, packed, residual, shortcut),
                              out.data_ptr(), _address(bits),
                              _address(scratch))
    if library().mmbnn_conv_chain(args, count, io, shortcut):
        raise RuntimeError(f'instruction set {isa!r} is not supported here')


class ConvChain:
    """Prepared convs run one after another in one native call, each
    reading the previous one's sign bits and adding its output as the
    residual: a run of fused Bi-Real convs with identity shortcuts
    (``deploy.convert``), the Python around a conv paid once for all.

    ``calls``: the ``ConvCall`` of each conv, every one prepared for its
    sign bits, each after the first for a packed input and a residual of
    the previous one's output shape and layout (checked here). ``run``
    takes the first one's input and residual, unchecked except the
    residual's layout, and returns the last one's output and bits.
    ``shortcut``: a prepared native op whose output for the first conv's
    float input is its residual (``deploy.int8.PooledInt8Call``: an int8
    downsample shortcut; its ``args`` and channels-last ``out_shape``),
    computed in the same call; ``run`` then takes no residual, and the
    float input also where it passes the packed bits.
    """

    def __init__(self, calls, shortcut=None):
        calls = list(calls)
        if shortcut is not None and (calls[0].residual_shape,
                                     calls[0].residual_stride) != \
                nchw_view(shortcut.out_shape):
            raise ValueError("the shortcut's output is not the first conv's "
                             "residual")
        for prev, call in zip(calls, calls[1:]):
            if not _reads(call, prev.out_shape, residual=True):
                raise ValueError('each conv of a chain reads the previous '
                                 "one's bits and adds its output")
        if any(call.bits_shape is None for call in calls) or \
                len({call.isa for call in calls}) != 1:
            raise ValueError('the convs of a chain each give their sign bits, '
                             'on one instruction set')
        self.calls, self.first, self.last = calls, calls[0], calls[-1]
        self.args = (ctypes.c_int64 * (34 * len(calls)))()
        for i, call in enumerate(calls):
            ctypes.memmove(ctypes.addressof(self.args) + 8 * 34 * i,
                           call.args, 8 * 34)
        self.shortcut = shortcut
        self.shortcut_args = None if shortcut is None else shortcut.args
        self.scratch_bytes = library().mmbnn_chain_scratch_bytes(
            self.args, len(calls), self.shortcut_args)

    def run(self, x: torch.Tensor, packed: torch.Tensor = None,
            residual: torch.Tensor = None):
        x = self._input(x, packed, residual)
        out, bits = self.last.outputs()
        scratch = _scratch(self.scratch_bytes)
        _run_native(self.args, len(self.calls), x, packed, residual, out, bits,
                    scratch, self.shortcut_args, self.first.isa)
        return out.permute(0, 3, 1, 2), bits

    def _input(self, x, packed, residual):
        """``x`` as the native call reads it, after checking what ``run``
        checks of its input and residual."""
        first = self.first
        if self.shortcut is not None:
            if residual is not None:
                raise ValueError('a chain with a shortcut makes its residual')
            if x.shape != first.shape or x.dtype != torch.float32:
                raise ValueError(f'the shortcut is prepared for float32 '
                                 f'{first.shape}, got {x.dtype} '
                                 f'{tuple(x.shape)}')
        elif residual is not None and (residual.shape != first.residual_shape
                                       or residual.stride() !=
                                       first.residual_stride):
            first.check(x, packed, residual)  # raises: not the layout
        if packed is None or self.shortcut is not None:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


class ChainSequence:
    """Prepared chains (``ConvChain``) run one after another in one native
    call (``mmbnn_conv_chains``): a frozen backbone's stages
    (``deploy.convert``). Each chain after the first reads the one before's
    output: its sign bits as its packed input, its float output as the
    input of its shortcut, or as its residual where it has none (checked
    here). ``run`` takes the first chain's input, bits and residual (as
    ``ConvChain.run``) and returns each chain's output and bits."""

    def __init__(self, chains):
        chains = list(chains)
        for prev, chain in zip(chains, chains[1:]):
            if not _reads(chain.first, prev.last.out_shape,
                          residual=chain.shortcut is None):
                raise ValueError("each chain reads the previous one's output")
        if len({chain.first.isa for chain in chains}) != 1:
            raise ValueError('the chains run on one instruction set')
        self.chains, k = chains, len(chains)
        self.args = (ctypes.c_void_p * k)(
            *[ctypes.addressof(chain.args) for chain in chains])
        self.counts = (ctypes.c_int64 * k)(
            *[len(chain.calls) for chain in chains])
        self.shortcuts = (ctypes.c_void_p * k)(
            *[None if chain.shortcut_args is None
              else ctypes.addressof(chain.shortcut_args) for chain in chains])
        self.scratch_bytes = max(chain.scratch_bytes for chain in chains)

    def run(self, x: torch.Tensor, packed: torch.Tensor = None,
            residual: torch.Tensor = None):
        first = self.chains[0]
        x = first._input(x, packed, residual)
        outputs = [chain.last.outputs() for chain in self.chains]
        scratch = _scratch(self.scratch_bytes)  # (alive through the call)
        io = (ctypes.c_int64 * (4 + 2 * len(outputs)))(
            *_inputs(x, packed, residual, first.shortcut),
            _address(scratch),
            *[_address(t) for pair in outputs for t in pair])
        _run_native_chains(self, io)
        return [(out.permute(0, 3, 1, 2), bits) for out, bits in outputs]


def _run_native_chains(sequence, io):
    """``mmbnn_conv_chains`` on a ``ChainSequence``'s prepared arrays and a
    call's own addresses ``io``."""
    if library().mmbnn_conv_chains(sequence.args, sequence.counts,
                                   sequence.shortcuts, len(sequence.chains),
                                   io):
        raise RuntimeError(f'instruction set '
                           f'{sequence.chains[0].first.isa!r} is not '
                           f'supported here')


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
    sign bits packed for a next layer with one group (else None). A layer
    called again and again on one shape prepares a ``ConvCall`` instead.
    """
    isa = select_isa(isa)
    packed_shape, out_shape = _conv_shapes(x.shape, weight, stride, padding,
                                           dilation)
    o = weight.out_channels
    alpha = (torch.ones(o) if alpha is None else alpha).float().contiguous()
    beta = (torch.zeros(o) if beta is None else beta).float().contiguous()
    if isa != 'reference':  # the prepared call checks packed and residual
        if packed is None and (x.dtype != torch.float32 or
                               x.device.type != 'cpu'):
            packed = pack_activations(x, weight.groups, isa)
        call = ConvCall(x.shape, weight, stride, padding, dilation, alpha,
                        beta, residual.stride() if residual is not None
                        else None, clip, want_bits, packed is not None, isa,
                        native.threads(threads))
        return call(x, packed, residual)
    if residual is not None:
        _check_residual(residual, out_shape)
    if packed is not None:
        _check_packed(packed, packed_shape)
    else:
        packed = pack_activations(x, weight.groups, isa)
    y = _reference_conv(packed, weight, x.shape[1], stride, padding, dilation,
                        alpha, beta, residual, clip)
    bits = pack_activations(y, 1, 'reference') if want_bits else None
    return y, bits
