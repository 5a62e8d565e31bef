"""The XNOR-popcount kernels: building the native library, choosing an
instruction set, and a pure PyTorch reference path with the same results.

``MMBNN_ISA`` (``auto``, ``avx512``, ``avx2``, ``scalar`` or ``reference``)
forces a path; ``auto`` takes the best the CPU has. The library is compiled
from ``csrc/xnor.cpp`` on first use with PyTorch's extension builder (cached
in PyTorch's extension directory, rebuilt when the source changes); without
a compiler the reference path runs, with a warning saying why.
"""
import ctypes
import os
import shutil
import sys
import warnings
from functools import lru_cache
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ['ISAS', 'available_isas', 'select_isa', 'pack_bits',
           'unpack_bits', 'pack_activations', 'PackedWeight', 'xnor_conv2d',
           'native_sign', 'native_tanh_sign_grad']

# Native paths, best first; 'reference' is PyTorch.
ISAS = ('avx512', 'avx2', 'scalar')
_ISA_CODE = dict(scalar=0, avx2=1, avx512=2)
_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'csrc',
                       'xnor.cpp')
_ABI = 4
_u64p = ctypes.c_void_p


@lru_cache(maxsize=None)
def _library() -> Optional[ctypes.CDLL]:
    """The compiled kernels, or None (with a warning) if they cannot be built."""
    try:
        from torch.utils.cpp_extension import load
        if shutil.which('ninja') is None:
            # pip's ninja sits beside the interpreter of an unactivated venv.
            os.environ['PATH'] = (os.path.dirname(sys.executable) + os.pathsep +
                                  os.environ.get('PATH', ''))
        # -ffp-contract=off: no fused multiply-add in the output transform, so
        # every path rounds as PyTorch's separate elementwise ops do.
        path = load('mmbnn_xnor', [_SOURCE], is_python_module=False,
                    extra_cflags=['-O3', '-fopenmp', '-ffp-contract=off',
                                  '-std=c++17'],
                    extra_ldflags=['-fopenmp'], verbose=False)
        lib = ctypes.CDLL(path)
    except Exception as exc:  # no compiler, no ninja, a failed build
        warnings.warn(
            'mmbnn: the XNOR-popcount kernels could not be built '
            f'({type(exc).__name__}: {str(exc).strip()[:300]}); exported '
            'binary layers and the training estimators run on the PyTorch '
            'reference path, correct but slower. Install a C++ compiler (g++) '
            'and ninja to get the native kernels.')
        return None
    if lib.mmbnn_abi_version() != _ABI:
        raise RuntimeError(f'mmbnn: stale kernel library {path}; delete it')
    lib.mmbnn_pack.restype = ctypes.c_int
    lib.mmbnn_pack.argtypes = ([ctypes.c_void_p] + [ctypes.c_int64] * 3 +
                               [_u64p, ctypes.c_int, ctypes.c_int])
    lib.mmbnn_conv.restype = ctypes.c_int
    lib.mmbnn_conv.argtypes = (
        [_u64p, ctypes.c_void_p] + [ctypes.c_int64] * 3 + [_u64p] * 3 +
        [ctypes.c_void_p] +
        [ctypes.c_int64] * 11 + [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 4 +
        [ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, _u64p,
         ctypes.c_int, ctypes.c_int])
    lib.mmbnn_sign.restype = None
    lib.mmbnn_sign.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_int64, ctypes.c_int]
    lib.mmbnn_tanh_sign_grad.restype = None
    lib.mmbnn_tanh_sign_grad.argtypes = [ctypes.c_void_p] * 3 + [
        ctypes.c_int64, ctypes.c_float, ctypes.c_float, ctypes.c_int,
        ctypes.c_int]
    return lib


@lru_cache(maxsize=None)
def _native_isas():
    lib = _library()
    return tuple(isa for isa in ISAS
                 if lib is not None and lib.mmbnn_isa_supported(_ISA_CODE[isa]))


def available_isas():
    """Instruction-set paths this machine can run, best first (``reference``
    last, always there)."""
    return list(_native_isas()) + ['reference']


def select_isa(isa: Optional[str] = None) -> str:
    """``isa``, else ``$MMBNN_ISA``, else the best available path; a path the
    machine cannot run is an error, not a silent fallback."""
    return _select((isa or os.environ.get('MMBNN_ISA') or 'auto').lower())


@lru_cache(maxsize=None)
def _select(want: str) -> str:
    if want not in ISAS + ('auto', 'reference'):
        raise ValueError(f'unknown instruction set {want!r} (MMBNN_ISA); '
                         f"choose from {['auto', *ISAS, 'reference']}")
    have = available_isas()
    if want == 'auto':
        return have[0]
    if want not in have:
        why = ('the native kernels are not built (see the warning above)'
               if _library() is None else 'this CPU does not support it')
        raise RuntimeError(f'instruction set {want!r} was asked for but {why}; '
                           f'available: {have}')
    return want


def pack_bits(bits: torch.Tensor) -> torch.Tensor:
    """Pack a bool tensor ``[..., C]`` along its last dim into int64 words
    ``[..., ceil(C / 64)]``: bit ``j`` of word ``i`` is element ``64 i + j``
    (little-endian words); tail bits are 0."""
    c = bits.shape[-1]
    words = (c + 63) // 64
    padded = F.pad(bits.to(torch.uint8), (0, words * 64 - c))
    weights = (1 << torch.arange(8, dtype=torch.int32, device=bits.device))
    by = (padded.view(*bits.shape[:-1], words * 8, 8).to(torch.int32) *
          weights).sum(-1).to(torch.uint8)
    return by.view(torch.int64) if by.is_contiguous() else \
        by.contiguous().view(torch.int64)


def unpack_bits(words: torch.Tensor, c: int) -> torch.Tensor:
    """Inverse of ``pack_bits``: a bool tensor ``[..., c]``."""
    by = words.contiguous().view(torch.uint8)
    shifts = torch.arange(8, dtype=torch.uint8, device=words.device)
    bits = (by.unsqueeze(-1) >> shifts) & 1
    return bits.flatten(-2)[..., :c].bool()


def _threads(threads):
    return int(threads or torch.get_num_threads())


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
        return pack_bits(bits).reshape(n, h, w, groups * cgw)
    # The kernels read a pixel's channels contiguously.
    x = x.contiguous(memory_format=torch.channels_last)
    out = torch.empty(n, h, w, groups * cgw, dtype=torch.int64)
    _library().mmbnn_pack(x.data_ptr(), n * h * w, c, groups, out.data_ptr(),
                          _ISA_CODE[isa], _threads(threads))
    return out


class PackedWeight:
    """A binary conv's weight signs in the kernels' layouts.

    ``bits``: int64 ``[O, KH, KW, Cgw]`` (the file layout); ``blocks``: the
    same words regrouped 8 output channels at a time; ``popcounts``: int32
    ``[O, KH * KW]``, what a padded tap subtracts.
    """
    BLOCK = 8

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
        og = o // groups
        nb = (og + self.BLOCK - 1) // self.BLOCK
        w = bits.view(groups, og, kh * kw * cgw)
        w = F.pad(w, (0, 0, 0, nb * self.BLOCK - og))
        self.blocks = w.view(groups, nb, self.BLOCK, -1).transpose(2, 3) \
            .contiguous()
        # The AVX2 kernel's operands: each byte's low and high nibble.
        self.low_nibbles = self.blocks & _NIBBLES
        self.high_nibbles = (self.blocks >> 4) & _NIBBLES
        by = bits.contiguous().view(torch.uint8).view(o, kh * kw, cgw * 8)
        self.popcounts = _BYTE_POPCOUNT[by.long()].sum(-1, dtype=torch.int32) \
            .contiguous()

    def signs(self) -> torch.Tensor:
        """The weight as +-1 float32 ``[O, Cg, KH, KW]``."""
        bits = unpack_bits(self.bits, self.in_channels // self.groups)
        return (bits.float() * 2 - 1).permute(0, 3, 1, 2).contiguous()


_NIBBLES = 0x0f0f0f0f0f0f0f0f
_BYTE_POPCOUNT = torch.tensor([bin(i).count('1') for i in range(256)],
                              dtype=torch.int32)


def _reference_conv(packed, weight, in_channels, stride, padding, dilation,
                    alpha, beta, residual, clip):
    n, h, w, _ = packed.shape
    g = weight.groups
    cg = in_channels // g
    bits = unpack_bits(packed.view(n, h, w, g, -1), cg).reshape(n, h, w, -1)
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
    status = _library().mmbnn_conv(
        None if packed is None else packed.data_ptr(),
        x.data_ptr() if packed is None else None, n, h, w,
        weight.blocks.data_ptr(), weight.low_nibbles.data_ptr(),
        weight.high_nibbles.data_ptr(), weight.popcounts.data_ptr(),
        weight.groups, c // weight.groups, o // weight.groups, kh, kw, *stride,
        *padding, *dilation, alpha.data_ptr(), beta.data_ptr(),
        residual.data_ptr() if residual is not None else None, *rs, int(clip),
        out.data_ptr(), oh, ow, bits.data_ptr() if want_bits else None,
        _ISA_CODE[isa], _threads(threads))
    if status:
        raise RuntimeError(f'instruction set {isa!r} is not supported here')
    return out.permute(0, 3, 1, 2), bits


# Training: the estimators' sign forward and tanh backward in one pass each.

def _native_training_isa(*tensors) -> Optional[str]:
    """The path for a training kernel on ``tensors``, or None where PyTorch
    computes it (not float32 on the CPU, the reference path, no library)."""
    if not all(t.device.type == 'cpu' and t.dtype == torch.float32
               for t in tensors):
        return None
    isa = select_isa()
    return None if isa == 'reference' else isa


def native_sign(x: torch.Tensor) -> Optional[torch.Tensor]:
    """``+1`` where ``x >= 0`` else ``-1`` (float32 CPU input), or None."""
    if _native_training_isa(x) is None:
        return None
    x = x.detach().contiguous()
    out = torch.empty_like(x)
    _library().mmbnn_sign(x.data_ptr(), out.data_ptr(), x.numel(),
                          _threads(None))
    return out


def native_tanh_sign_grad(x: torch.Tensor, grad: torch.Tensor, k: torch.Tensor,
                          t: torch.Tensor) -> Optional[torch.Tensor]:
    """``grad * k t (1 - tanh(t x)^2)`` for scalar ``k``, ``t`` (float32 CPU
    tensors of one shape), computed as ``k t 4 v / (1 + v)^2`` with ``v =
    exp(-2|t x|)``; or None."""
    isa = _native_training_isa(x, grad)
    if isa is None or k.numel() != 1 or t.numel() != 1 or \
            x.shape != grad.shape:
        return None
    x, grad = x.detach().contiguous(), grad.contiguous()
    out = torch.empty_like(x)
    _library().mmbnn_tanh_sign_grad(x.data_ptr(), grad.data_ptr(),
                                    out.data_ptr(), x.numel(), float(k),
                                    float(t), _ISA_CODE[isa], _threads(None))
    return out
