"""mmbnn's native library: building it, choosing an instruction set, and the
training estimators' passes it runs (the sign forward and the tanh backward).

The library (``csrc/xnor.cpp`` and ``csrc/roi_align.cpp``) serves training
first (these passes, and RoIAlign: ``roi_align``) and inference
(``xnor_conv``). It is compiled on first use with PyTorch's
extension builder, cached in PyTorch's extension directory and rebuilt when
its sources change; without a compiler, PyTorch computes everything, with a
warning saying why. ``csrc/mmbnn_abi.h`` holds what the library and this
module must agree on (ABI version, instruction-set codes, block size); both
read it.

``MMBNN_ISA`` (``auto``, ``avx512``, ``avx2``, ``neon``, ``scalar`` or
``reference``) forces a path; ``auto`` takes the best the CPU has (x86:
AVX-512 VPOPCNTDQ, then AVX2; aarch64: NEON), ``reference`` PyTorch's ops.
"""
import ctypes
import hashlib
import os
import re
import shutil
import sys
import warnings
from functools import lru_cache
from typing import Optional

import torch

__all__ = ['ISAS', 'ISA_CODES', 'BLOCK', 'available_isas', 'select_isa',
           'library', 'threads', 'cpu_info', 'peak_rates', 'native_sign',
           'native_tanh_sign_grad']

CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'csrc')
_SOURCES = [os.path.join(CSRC, name)
            for name in ('xnor.cpp', 'roi_align.cpp')]
_HEADER = os.path.join(CSRC, 'mmbnn_abi.h')


def _read_header(path: str = _HEADER) -> dict:
    """The ``#define NAME value`` integers of the ABI header."""
    with open(path) as f:
        return {name: int(value) for name, value in re.findall(
            r'^#define\s+MMBNN_(\w+)\s+(\d+)\s*$', f.read(), re.M)}


_ABI = _read_header()
ABI_VERSION = _ABI['ABI_VERSION']
BLOCK = _ABI['BLOCK']
ISA_CODES = {name[4:].lower(): code for name, code in _ABI.items()
             if name.startswith('ISA_')}
# Native paths, best first; 'reference' is PyTorch.
ISAS = tuple(isa for isa in ('avx512', 'avx2', 'neon', 'scalar')
             if isa in ISA_CODES)

_ptr = ctypes.c_void_p
_i64 = ctypes.c_int64
_int = ctypes.c_int


def _signatures(lib):
    """argtypes of the library's entry points (their C declarations are in
    csrc/xnor.cpp; a change there bumps MMBNN_ABI_VERSION)."""
    lib.mmbnn_pack.restype = _int
    lib.mmbnn_pack.argtypes = [_ptr, _i64, _i64, _i64, _ptr, _int, _int]
    # convs prepared as int64 arrays, and their tensors' addresses
    # (xnor_conv.ConvCall, ConvChain).
    lib.mmbnn_conv_chain.restype = _int
    lib.mmbnn_conv_chain.argtypes = [ctypes.POINTER(_i64), _i64,
                                     ctypes.POINTER(_i64),
                                     ctypes.POINTER(_i64)]
    lib.mmbnn_conv_chains.restype = _int
    lib.mmbnn_conv_chains.argtypes = [
        ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_i64),
        ctypes.POINTER(ctypes.c_void_p), _i64, ctypes.POINTER(_i64)]
    lib.mmbnn_chain_scratch_bytes.restype = _i64
    lib.mmbnn_chain_scratch_bytes.argtypes = [ctypes.POINTER(_i64), _i64,
                                              ctypes.POINTER(_i64)]
    lib.mmbnn_int8_supported.restype = _int
    lib.mmbnn_int8_supported.argtypes = [_int]
    lib.mmbnn_pool_int8_conv.restype = _int
    lib.mmbnn_pool_int8_conv.argtypes = [_ptr] + [_i64] * 4 + [
        _ptr, _ptr, _i64, ctypes.c_float, _int, _ptr, _ptr, _ptr, _int, _int,
        _int, _int]
    lib.mmbnn_stem_layout.restype = None
    lib.mmbnn_stem_layout.argtypes = [_i64] * 3 + [ctypes.POINTER(_i64)]
    lib.mmbnn_int8_stem_supported.restype = _int
    lib.mmbnn_int8_stem_supported.argtypes = [_int]
    lib.mmbnn_int8_stem.restype = _int
    lib.mmbnn_int8_stem.argtypes = [_ptr] + [_i64] * 8 + [
        _ptr, _ptr, _i64, ctypes.c_float, _int, _ptr, _ptr] + [_i64] * 3 + [
        _ptr, _ptr, _int, _int]
    lib.mmbnn_uint8_pool_dequantize.restype = _int
    lib.mmbnn_uint8_pool_dequantize.argtypes = [_ptr] + [_i64] * 4 + [
        _int] * 4 + [ctypes.c_float, _ptr, _ptr, _int, _int]
    lib.mmbnn_sign.restype = None
    lib.mmbnn_sign.argtypes = [_ptr, _ptr, _i64, _int]
    lib.mmbnn_tanh_sign_grad.restype = None
    lib.mmbnn_tanh_sign_grad.argtypes = [_ptr] * 3 + [
        _i64, ctypes.c_float, ctypes.c_float, _int, _int]
    for name in ('mmbnn_roi_align_forward', 'mmbnn_roi_align_backward'):
        getattr(lib, name).restype = _i64
        getattr(lib, name).argtypes = [_ptr] + [_i64] * 4 + [_ptr, _i64] + [
            _int] * 2 + [ctypes.c_float] + [_int] * 2 + [_ptr, _int]
    lib.mmbnn_isa_supported.restype = _int
    lib.mmbnn_isa_supported.argtypes = [_int]
    lib.mmbnn_peak.restype = ctypes.c_double
    lib.mmbnn_peak.argtypes = [_int, _int, ctypes.c_double]
    lib.mmbnn_peak_threads.restype = ctypes.c_double
    lib.mmbnn_peak_threads.argtypes = [_int, _int, ctypes.c_double, _int]


@lru_cache(maxsize=None)
def library() -> Optional[ctypes.CDLL]:
    """The compiled library, or None (with a warning) if it cannot be built."""
    try:
        from torch.utils.cpp_extension import load
        if shutil.which('ninja') is None:
            # pip's ninja sits beside the interpreter of an unactivated venv.
            os.environ['PATH'] = (os.path.dirname(sys.executable) + os.pathsep +
                                  os.environ.get('PATH', ''))
        with open(_HEADER, 'rb') as f:
            header = hashlib.sha1(f.read()).hexdigest()[:12]
        # -ffp-contract=off: no fused multiply-add in the output transform, so
        # every path rounds as PyTorch's separate elementwise ops do. The
        # header's hash is a build flag: torch rebuilds when flags change,
        # and it hashes only the .cpp sources itself.
        path = load('mmbnn_xnor', _SOURCES, is_python_module=False,
                    extra_cflags=['-O3', '-fopenmp', '-ffp-contract=off',
                                  '-std=c++17', f'-DMMBNN_HEADER={header}'],
                    extra_include_paths=[CSRC],
                    extra_ldflags=['-fopenmp'], verbose=False)
        lib = ctypes.CDLL(path)
    except Exception as exc:  # no compiler, no ninja, a failed build
        warnings.warn(
            'mmbnn: the native library could not be built '
            f'({type(exc).__name__}: {str(exc).strip()[:300]}); exported '
            'binary layers and the training estimators run on the PyTorch '
            'reference path, correct but slower. Install a C++ compiler (g++) '
            'and ninja to get the native kernels.')
        return None
    if lib.mmbnn_abi_version() != ABI_VERSION:
        raise RuntimeError(f'mmbnn: stale native library {path} (ABI '
                           f'{lib.mmbnn_abi_version()}, expected '
                           f'{ABI_VERSION}); delete it')
    _signatures(lib)
    return lib


@lru_cache(maxsize=None)
def _native_isas():
    lib = library()
    return tuple(isa for isa in ISAS
                 if lib is not None and lib.mmbnn_isa_supported(ISA_CODES[isa]))


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
        why = ('the native library is not built (see the warning above)'
               if library() is None else 'this CPU does not support it')
        raise RuntimeError(f'instruction set {want!r} was asked for but {why}; '
                           f'available: {have}')
    return want


def threads(count: Optional[int] = None) -> int:
    """``count``, or PyTorch's intra-op thread count."""
    return int(count or torch.get_num_threads())


def cpu_info() -> dict:
    """``cpu``: the CPU's model name (Linux's /proc/cpuinfo, else the
    platform's processor string), ``arch``: the machine, ``flags``: its
    instruction-set flags (x86 ``flags``, ARM ``Features``), a set."""
    import platform
    model, flags = None, set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                key = key.strip()
                if key in ('model name', 'Hardware') and model is None:
                    model = value.strip()
                elif key in ('flags', 'Features'):
                    flags |= set(value.split())
    except OSError:
        pass
    return dict(cpu=model or platform.processor() or 'unknown',
                arch=platform.machine(), flags=flags)


def peak_rates(isa: str, seconds: float = 0.2, threads: int = 1) -> dict:
    """The ceilings on path ``isa``, measured now by the library's
    register-only loops (csrc/xnor.cpp, the fastest of 15 runs of about
    ``seconds / 16``): ``xnor_bitmacs``, XNOR-popcount bit-MACs per second
    with that path's conv step, and ``fp32_macs``, fp32 FMA lanes per
    second (None on the scalar path, which has no FMA loop). One thread:
    a core's; ``threads`` > 1: that many threads running the loop at once,
    all of them together (at most ``threads`` times one core's; less where
    they share cores)."""
    lib = library()
    if lib is None or isa not in _native_isas():
        raise RuntimeError(f'instruction set {isa!r} is not available here')
    if threads < 1:
        raise ValueError(f'threads must be at least 1, got {threads}')
    rates = {}
    for key, kind in (('xnor_bitmacs', 0), ('fp32_macs', 1)):
        rate = lib.mmbnn_peak_threads(ISA_CODES[isa], kind, seconds, threads)
        rates[key] = rate if rate > 0 else None
    return rates


# Training: the estimators' sign forward and tanh backward in one pass each.

def _training_isa(*tensors) -> Optional[str]:
    """The path for a training pass on ``tensors``, or None where PyTorch
    computes it (not float32 on the CPU, the reference path, no library)."""
    if not all(t.device.type == 'cpu' and t.dtype == torch.float32
               for t in tensors):
        return None
    isa = select_isa()
    return None if isa == 'reference' else isa


def native_sign(x: torch.Tensor) -> Optional[torch.Tensor]:
    """``+1`` where ``x >= 0`` else ``-1`` (float32 CPU input), or None."""
    if _training_isa(x) is None:
        return None
    x = x.detach().contiguous()
    out = torch.empty_like(x)
    library().mmbnn_sign(x.data_ptr(), out.data_ptr(), x.numel(), threads())
    return out


def native_tanh_sign_grad(x: torch.Tensor, grad: torch.Tensor, k: torch.Tensor,
                          t: torch.Tensor) -> Optional[torch.Tensor]:
    """``grad * k t (1 - tanh(t x)^2)`` for scalar ``k``, ``t`` (float32 CPU
    tensors of one shape), computed as ``k t 4 v / (1 + v)^2`` with ``v =
    exp(-2|t x|)``, and 0 where ``|t x| > 13 ln 2`` (there float32's tanh is
    1, and the reference formula's factor 0); or None."""
    isa = _training_isa(x, grad)
    if isa is None or k.numel() != 1 or t.numel() != 1 or \
            x.shape != grad.shape:
        return None
    x, grad = x.detach().contiguous(), grad.contiguous()
    out = torch.empty_like(x)
    library().mmbnn_tanh_sign_grad(x.data_ptr(), grad.data_ptr(),
                                   out.data_ptr(), x.numel(), float(k),
                                   float(t), ISA_CODES[isa], threads())
    return out
