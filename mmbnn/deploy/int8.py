"""The full-precision layers of a model on the XNOR runtime in int8
(docs/deploy.md): the stem, the downsample shortcuts, the classifier and the
detector heads run on PyTorch's quantized engine (x86: fbgemm/oneDNN, which
use VNNI where the CPU has it; ARM: qnnpack) instead of float32.

Post-training quantization, calibrated on a few batches: weights int8 per
output channel, symmetric (scale ``max|w| / 127``); each layer's input and
output uint8 per tensor over the range seen in calibration, 7 bits
(0..127, PyTorch's ``reduce_range``: the x86 kernels' 16-bit intermediate
sums cannot overflow on CPUs without VNNI). Each layer takes and gives float
tensors (quantize in, dequantize out), so BN, residuals and the binary
layers around it are unchanged. CPU only, as PyTorch's quantized engine is.
"""
import warnings
from functools import lru_cache
from typing import Callable, Iterable, NamedTuple

import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair

from mmbnn.models.layers.pooling import MaxPool2d
from .xnor_layers import _BITS, fold_batch_norm

__all__ = ['Int8Conv2d', 'Int8Linear', 'fold_batch_norms', 'fuse_avg_pools',
           'fuse_max_pools', 'int8_linear', 'int8_stem', 'pooled_int8_conv',
           'quantize_float_layers', 'uint8_pool_dequantize']

QMAX = 127  # 7-bit activations (reduce_range)


def activation_qparams(low: float, high: float):
    """Scale and zero point of uint8 values 0..QMAX covering [low, high]
    and 0 (zero is exact, as padding needs)."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = max(high - low, 1e-8) / QMAX
    zero_point = int(min(max(round(-low / scale), 0), QMAX))
    return scale, zero_point


def weight_scales(weight: torch.Tensor) -> torch.Tensor:
    """Per output channel: ``max|w| / 127`` (a zero channel gets 1)."""
    amax = weight.detach().abs().flatten(1).amax(1).double()
    return torch.where(amax > 0, amax / 127, torch.ones_like(amax))


def _quantized_weight(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` as a per-channel qint8 tensor (call under a
    deprecation-warning filter, as ``_Int8Layer`` does)."""
    weight = weight.detach().float().contiguous()
    scales = weight_scales(weight)
    zeros = torch.zeros(len(scales), dtype=torch.long)
    return torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8)


class _Int8Layer(nn.Module):
    """Quantize the float input, run the quantized op ``op`` (given the
    weights and bias of the float ``layer``), dequantize."""

    def __init__(self, op, layer, in_range, out_range):
        super().__init__()
        with warnings.catch_warnings():  # quantized tensors deprecated
            warnings.simplefilter('ignore')
            op.set_weight_bias(_quantized_weight(layer.weight),
                               None if layer.bias is None
                               else layer.bias.detach().float())
        self.op = op
        self.in_scale, self.in_zero_point = activation_qparams(*in_range)
        self.op.scale, self.op.zero_point = activation_qparams(*out_range)
        self.pool = None  # a max-pool on the uint8 output (fuse_max_pools)
        self._native = None  # the native path's weights, made on first use

    def forward(self, x):
        return self._dequantize(self._quantized_op(x))

    def _quantized_op(self, x):
        """The op's quantized output for the float input ``x``."""
        if x.device.type != 'cpu':
            raise RuntimeError(
                f'{type(self).__name__} runs on PyTorch\'s quantized CPU '
                f'engine; the input is on {x.device}')
        q = torch.quantize_per_tensor(x.float(), self.in_scale,
                                      self.in_zero_point, torch.quint8)
        return self.op(q)

    def _int8_weights(self):
        """The op's weights for the library's int8 path
        (``_native_weights``), made on first use and again after
        ``op.set_weight_bias`` or a new ``in_scale``."""
        packed, cached = _prepacked(self.op), self._native
        if cached is None or cached[0] is not packed or \
                cached[1] != self.in_scale:
            cached = self._native = (packed, self.in_scale, _native_weights(
                self.op, self.in_scale))
        return cached[2]

    def _dequantize(self, y):
        if self.pool is not None:
            y = self.pool(y)
        return y.dequantize()

    def extra_repr(self):
        return (f'in_scale={self.in_scale:.4g}, in_zero_point='
                f'{self.in_zero_point}, out_scale={self.op.scale:.4g}, '
                f'out_zero_point={self.op.zero_point}')


class Int8Conv2d(_Int8Layer):
    """A float ``nn.Conv2d`` (zero padding) in int8; ``in_range`` and
    ``out_range``: the (min, max) of its input and output in calibration.

    A 1x1 conv may take over the 2x2 average pool in front of it
    (``fuse_avg_pools``: a Bi-Real downsample shortcut): with the native
    library's int8 path for this CPU (AVX-512 VNNI, or the scalar one when
    ``MMBNN_ISA=scalar``), pool, quantize, conv and output affine then run
    in one pass (``pooled_int8_conv``; the output is not requantized to
    uint8, so it is nearer the float layer than the op's own), else the
    pool and the quantized op as before."""

    def __init__(self, conv: nn.Conv2d, in_range, out_range):
        import torch.ao.nn.quantized as nnq
        if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise ValueError(f'Int8Conv2d needs numeric zero padding, got '
                             f'padding={conv.padding!r}, padding_mode='
                             f'{conv.padding_mode!r}')
        op = nnq.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                        conv.stride, conv.padding, conv.dilation, conv.groups,
                        bias=conv.bias is not None)
        super().__init__(op, conv, in_range, out_range)
        self.pre_pool = None  # a 2x2 average pool before it (fuse_avg_pools)
        self._stem = None  # the same, laid out for int8_stem

    def _dequantize(self, y):
        """Pool (``fuse_max_pools``) and dequantize the op's uint8 output;
        natively where the library has an int8 path here, in one pass that
        also leaves the output's sign bits on it for a binary conv next
        (as a fused XNOR block does)."""
        pool = self.pool
        isa = _native_int8_isa()
        if isa is None or y.dim() != 4 or not (pool is None or (
                _is_max_pool(pool) and not pool.ceil_mode
                and _square(pool.kernel_size) and _square(pool.stride)
                and _square(pool.padding) and _pair(pool.dilation) == (
                    1, 1))):
            return super()._dequantize(y)
        k, s, p = ((1, 1, 0) if pool is None else
                   (_pair(pool.kernel_size)[0], _pair(pool.stride)[0],
                    _pair(pool.padding)[0]))
        return uint8_pool_dequantize(y, k, s, p, isa)

    def forward(self, x):
        if self.pre_pool is None:
            stem = self._stem_args(x)
            if stem is not None:
                return int8_stem(x, *stem)
            return super().forward(x)
        isa = self._pooled_path(x)
        if isa is None:
            return super().forward(self.pre_pool(x))
        return pooled_int8_conv(x, *self._int8_weights(), self.in_scale,
                                self.in_zero_point, isa)

    def _pooled_path(self, x):
        """The native int8 path that runs this layer with its pre-pool on
        ``x`` (its weights made on first use), or None: the pool, then the
        quantized op."""
        isa = _native_int8_isa()
        if isa is None or x.device.type != 'cpu' or x.dim() != 4 or (
                self.pre_pool.ceil_mode and (x.shape[2] % 2 or x.shape[3] % 2)):
            # (ceil_mode pools an odd edge's last row or column alone)
            return None
        return isa

    def pooled_call(self, x):
        """This layer with its pre-pool prepared for inputs of ``x``'s shape
        (``PooledInt8Call``), or None where it does not run natively on
        ``x``."""
        isa = None if self.pre_pool is None else self._pooled_path(x)
        return None if isa is None else PooledInt8Call(
            x.shape, self._int8_weights(), self.in_scale,
            self.in_zero_point, isa)

    def _stem_args(self, x):
        """``int8_stem``'s arguments after ``x`` where it runs this layer
        and the max-pool it took (``fuse_max_pools``: a ResNet stem), else
        None (the quantized op, then the pool). Decided once for a
        configuration of the conv, its weights, the pool and the
        instruction set (``_stem_plan``), and kept while it stays the
        same."""
        op, pool = self.op, self.pool
        if pool is None or x.device.type != 'cpu' or x.dim() != 4:
            return None
        from mmbnn.ops import native
        isa = native.select_isa()
        key = (isa, type(pool), pool.kernel_size, pool.stride, pool.padding,
               pool.dilation, pool.ceil_mode, op.kernel_size, op.stride,
               op.padding, op.dilation, op.groups, op.in_channels,
               op.out_channels, self.in_scale, self.in_zero_point)
        packed = _prepacked(op)  # (set_weight_bias makes a new one)
        cached = self.__dict__.get('_stem_plan_cache')
        if cached is None or cached[0] != key or cached[2] is not packed:
            self._stem = None  # (its alpha holds in_scale)
            cached = self.__dict__['_stem_plan_cache'] = (
                key, self._stem_plan(isa), packed)
        return cached[1]

    def _stem_plan(self, isa):
        """``int8_stem``'s arguments but the input where it takes this
        layer: a native int8 stem path for ``isa`` (AMX, or the scalar one
        when ``MMBNN_ISA=scalar``), a conv it takes (groups 1, no dilation,
        square stride and padding, 16 to 64 output channels in 16s, a
        kernel row of at most 64 bytes in its layout), a plain square
        max-pool; else None."""
        op, pool = self.op, self.pool
        (kh, kw), (sy, sx), (py, px) = op.kernel_size, op.stride, op.padding
        if op.groups != 1 or op.dilation != (1, 1) or sy != sx or \
                py != px or op.out_channels % 16 or \
                not 16 <= op.out_channels <= 64:
            return None
        if not (_is_max_pool(pool) and not pool.ceil_mode
                and _square(pool.kernel_size) and _square(pool.stride)
                and _square(pool.padding) and _pair(pool.dilation) == (1, 1)):
            return None
        k, s, p = (_pair(pool.kernel_size)[0], _pair(pool.stride)[0],
                   _pair(pool.padding)[0])
        isa = _stem_path(isa)
        if isa is None or s > k or 2 * p > k or \
                kw * _stem_layout(kh, kw, op.in_channels)[0] > 64:
            return None
        if self._stem is None:
            self._stem = _stem_weights(self.op, self.in_scale)
        return (self._stem, sy, py, self.in_scale, self.in_zero_point,
                (k, s, p), isa)

    def extra_repr(self):
        return super().extra_repr() + (
            ', pre_pool=2x2' if self.pre_pool is not None else '')


def _native_int8_isa():
    """The native int8 path to use: the binary layers' instruction set
    (``native.select_isa``) where the library has the int8 kernel for it
    (AVX-512 with VNNI, or scalar), else None (PyTorch's quantized ops)."""
    from mmbnn.ops import native
    return _int8_path(native.select_isa())


@lru_cache(maxsize=None)
def _int8_path(isa):
    from mmbnn.ops import native
    lib = native.library()
    if isa in ('avx512', 'scalar') and lib is not None and \
            lib.mmbnn_int8_supported(native.ISA_CODES[isa]):
        return isa
    return None


@lru_cache(maxsize=None)
def _stem_path(isa):
    """``isa`` where the library has an int8 stem path for it (AVX-512:
    on AMX, where the CPU and the OS let this process use it; scalar),
    else None."""
    from mmbnn.ops import native
    lib = native.library()
    if isa in ('avx512', 'scalar') and lib is not None and \
            lib.mmbnn_int8_stem_supported(native.ISA_CODES[isa]):
        return isa
    return None


@lru_cache(maxsize=64)
def _stem_layout(kh: int, kw: int, c: int):
    """``(Cp, R)`` of ``mmbnn_int8_stem``'s layout for a ``kh`` x ``kw``
    kernel over ``c`` channels: bytes a pixel in its quantized plane, and
    kernel rows a step (``mmbnn_stem_layout``)."""
    import ctypes

    from mmbnn.ops import native
    layout = (ctypes.c_int64 * 2)()
    native.library().mmbnn_stem_layout(kh, kw, c, layout)
    return layout[0], layout[1]


class StemWeights(NamedTuple):
    """An int8 conv's weights for ``int8_stem``: int8 ``tiles`` (``R``
    kernel rows a step, each step's inputs in (kx, row, c) order with ``c``
    padded to ``Cp``, zero padded to 64: [steps][O / 16][16][16][4],
    ``mmbnn_int8_stem``'s layout), their per-channel sums, ``alpha =
    in_scale * weight scale``, the bias, and the conv's ``kernel`` (KH, KW)
    and input channels they were laid out for."""
    tiles: torch.Tensor
    weight_sum: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor
    kernel: tuple
    in_channels: int


def _op_weights(op, in_scale):
    """A quantized op's int8 weights (its own layout), ``alpha = in_scale
    * weight scale`` and the bias, float32 (zeros without one): what the
    native int8 steps take."""
    with warnings.catch_warnings():  # quantized tensors deprecated
        warnings.simplefilter('ignore')
        weight = op.weight()
        q = weight.int_repr()
        scales = weight.q_per_channel_scales().double()
        bias = op.bias()
    alpha = (in_scale * scales).float()
    beta = bias.detach().float().contiguous() if bias is not None else \
        torch.zeros(q.shape[0])
    return q, alpha, beta


def _stem_weights(op, in_scale) -> StemWeights:
    """``StemWeights`` of a quantized conv."""
    q, alpha, beta = _op_weights(op, in_scale)
    q = q.permute(0, 2, 3, 1)  # [O, KH, KW, C]
    o, kh, kw, c = q.shape
    cp, rows = _stem_layout(kh, kw, c)
    steps = -(-kh // rows)
    padded = torch.zeros(o, steps * rows, kw, cp, dtype=torch.int8)
    padded[:, :kh, :, :c] = q
    flat = padded.view(o, steps, rows, kw, cp).permute(0, 1, 3, 2, 4) \
        .reshape(o, steps, kw * rows * cp)
    step_bytes = torch.zeros(o, steps, 64, dtype=torch.int8)
    step_bytes[..., :flat.shape[-1]] = flat
    tiles = step_bytes.view(o // 16, 16, steps, 16, 4).permute(2, 0, 3, 1, 4)
    return StemWeights(tiles.contiguous(), q.sum((1, 2, 3), dtype=torch.int32),
                       alpha, beta, (kh, kw), c)


def int8_stem(x: torch.Tensor, weights: StemWeights, stride: int,
              padding: int, in_scale: float, in_zero_point: int, pool,
              isa: str) -> torch.Tensor:
    """``maxpool(alpha * (conv(q, w) - in_zero_point * weight_sum) +
    beta)`` with ``q`` the input ``x`` [N, C, H, W] quantized as
    ``torch.quantize_per_tensor(x, in_scale, in_zero_point, quint8)``
    (zero point in the padding), ``pool`` the max-pool's ``(kernel,
    stride, padding)``, in one native pass (``mmbnn_int8_stem``; the conv
    output is not requantized, so it is nearer the float layers than
    PyTorch's int8 op). Returns float32 [N, O, PH, PW], channels-last,
    carrying its sign bits for the binary conv next."""
    from mmbnn.ops import native
    n, c, h, w = x.shape
    weight, weight_sum, alpha, beta, (kh, kw), channels = weights
    o = alpha.numel()
    if c != channels:
        raise ValueError(f'stem weights laid out for {channels} input '
                         f'channels, the input has {c}')
    x = x.float().contiguous(memory_format=torch.channels_last)
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    k, s, p = pool
    ph, pw = (oh + 2 * p - k) // s + 1, (ow + 2 * p - k) // s + 1
    out = torch.empty(n, ph, pw, o)
    bits = torch.empty(n, ph, pw, 1, dtype=torch.int64)
    status = native.library().mmbnn_int8_stem(
        x.data_ptr(), n, h, w, c, kh, kw, stride, padding, weight.data_ptr(),
        weight_sum.data_ptr(), o, _inverse(in_scale), int(in_zero_point),
        alpha.data_ptr(), beta.data_ptr(), k, s, p, out.data_ptr(),
        bits.data_ptr(), native.ISA_CODES[isa], native.threads())
    if status:
        raise RuntimeError(f'no native int8 stem path for {isa!r} here, or '
                           f'a conv or pool it cannot run')
    out = out.permute(0, 3, 1, 2)
    setattr(out, _BITS, (bits, out._version))
    return out


def _prepacked(op):
    """A quantized conv's or linear layer's prepacked weights: a new object
    each time ``set_weight_bias`` sets them (compared by identity: their
    ``==`` raises)."""
    packed = op._packed_params
    return getattr(packed, '_packed_params', packed)


def _native_weights(op, in_scale):
    """From a quantized 1x1 conv (or linear layer): its int8 weights laid
    out for ``mmbnn_pool_int8_conv`` ([ceil(O/16)][ceil(C/4)][16][4], zero
    padded), their per-channel sums, ``alpha = in_scale * weight scale``
    and the bias (float32)."""
    q, alpha, beta = _op_weights(op, in_scale)
    q = q.flatten(1)  # [O, C], 1x1 kernel
    o, c = q.shape
    padded = torch.zeros((o + 15) // 16 * 16, (c + 3) // 4 * 4,
                         dtype=torch.int8)
    padded[:o, :c] = q
    blocks = padded.view(-1, 16, padded.shape[1] // 4, 4).permute(0, 2, 1, 3)
    return blocks.contiguous(), q.sum(1, dtype=torch.int32), alpha, beta


def _check_pooled_weights(weight, alpha, c):
    if weight.shape[1] != (c + 3) // 4 or weight.shape[0] * 16 < alpha.numel():
        raise ValueError(f'weights laid out for {weight.shape[1] * 4} input '
                         f'channels, the input has {c}')


class PooledInt8Call:
    """``pooled_int8_conv`` prepared for inputs of ``shape`` (N, C, H, W):
    ``mmbnn_pool_int8_conv``'s arguments in one int64 array (``args``;
    ``inv_scale`` as its float32 bits, the input and output addresses 0),
    for ``mmbnn.ops.xnor_conv.ConvChain``, whose native call computes its
    first conv's residual with it (a downsample shortcut). ``out_shape``:
    the output's (N, H // 2, W // 2, O), channels-last. Holds the weights
    (their addresses are in it)."""

    def __init__(self, shape, weights, in_scale: float, in_zero_point: int,
                 isa: str):
        import ctypes
        import struct

        from mmbnn.ops import native
        n, c, h, w = shape
        weight, weight_sum, alpha, beta = weights
        _check_pooled_weights(weight, alpha, c)
        o = alpha.numel()
        self.weights, self.isa = weights, isa
        self.out_shape = (n, h // 2, w // 2, o)
        inv = struct.unpack('<I', struct.pack('<f', _inverse(in_scale)))[0]
        self.args = (ctypes.c_int64 * 16)(
            0, n, h, w, c, weight.data_ptr(), weight_sum.data_ptr(), o, inv,
            int(in_zero_point), alpha.data_ptr(), beta.data_ptr(), 0, 1,
            native.ISA_CODES[isa], native.threads())


def pooled_int8_conv(x: torch.Tensor, weight: torch.Tensor,
                     weight_sum: torch.Tensor, alpha: torch.Tensor,
                     beta: torch.Tensor, in_scale: float, in_zero_point: int,
                     isa: str, amx: bool = True,
                     pool: int = 2) -> torch.Tensor:
    """``alpha * (conv1x1(q, w) - in_zero_point * weight_sum) + beta`` with
    ``q`` the ``pool`` x ``pool`` average pool (stride ``pool``: 2 for a
    downsample shortcut; the input's size for a global pool before a
    linear layer) of ``x`` [N, C, H, W], as ``F.avg_pool2d`` computes it,
    quantized as ``torch.quantize_per_tensor(pool, in_scale, in_zero_point,
    quint8)``, in one native pass (``mmbnn_pool_int8_conv``; on ``avx512``
    the conv runs on AMX where the CPU has it, ``amx``, and ``C`` is a
    multiple of 64: the same sums); ``weight``: int8 in the layout of
    ``_native_weights``. Returns float32 [N, O, H // pool, W // pool],
    channels-last."""
    n, c, h, w = x.shape
    if pool < 1:
        raise ValueError(f'a pool of {pool} pixels')
    x = x.float().contiguous(memory_format=torch.channels_last)
    return _native_int8(x, (n, h, w, c), pool, weight, weight_sum, alpha,
                        beta, in_scale, in_zero_point, isa,
                        amx).permute(0, 3, 1, 2)


def int8_linear(x: torch.Tensor, weight: torch.Tensor,
                weight_sum: torch.Tensor, alpha: torch.Tensor,
                beta: torch.Tensor, in_scale: float, in_zero_point: int,
                isa: str, amx: bool = True) -> torch.Tensor:
    """``pooled_int8_conv`` without the pool, of the rows of ``x`` [..., K]:
    a linear layer on its input quantized as
    ``torch.quantize_per_tensor``, the exact integer sums and the output
    transform in float32 (not requantized). Returns float32 [..., O]."""
    k = x.shape[-1]
    rows = x.float().reshape(-1, k).contiguous()
    out = _native_int8(rows, (rows.shape[0], 1, 1, k), 1, weight,
                       weight_sum, alpha, beta, in_scale, in_zero_point, isa,
                       amx)
    return out.view(*x.shape[:-1], alpha.numel())


def _native_int8(x, shape, pool, weight, weight_sum, alpha, beta, in_scale,
                 in_zero_point, isa, amx):
    """``mmbnn_pool_int8_conv`` on the channels-last float32 ``x`` of
    ``shape`` (N, H, W, C); the output [N, H // pool, W // pool, O]."""
    from mmbnn.ops import native
    n, h, w, c = shape
    _check_pooled_weights(weight, alpha, c)
    out = torch.empty(n, h // pool, w // pool, alpha.numel())
    status = native.library().mmbnn_pool_int8_conv(
        x.data_ptr(), n, h, w, c, weight.data_ptr(), weight_sum.data_ptr(),
        alpha.numel(), _inverse(in_scale), int(in_zero_point),
        alpha.data_ptr(), beta.data_ptr(), out.data_ptr(), pool, int(amx),
        native.ISA_CODES[isa], native.threads())
    if status:
        raise RuntimeError(f'no native int8 path for {isa!r} here')
    return out


class Int8Linear(_Int8Layer):
    """A float ``nn.Linear`` in int8 (see ``Int8Conv2d``). With the native
    library's int8 path for this CPU (as ``Int8Conv2d``'s pooled conv),
    quantize, the integer products and the output affine run in one pass
    (``int8_linear``; not requantized to uint8), else PyTorch's quantized
    op."""

    def __init__(self, linear: nn.Linear, in_range, out_range):
        import torch.ao.nn.quantized as nnq
        op = nnq.Linear(linear.in_features, linear.out_features,
                        bias_=linear.bias is not None)
        super().__init__(op, linear, in_range, out_range)

    def forward(self, x):
        isa = _native_int8_isa()
        if isa is None or x.device.type != 'cpu' or x.dim() < 1 or \
                x.shape[-1] != self.op.in_features:
            return super().forward(x)
        return int8_linear(x, *self._int8_weights(), self.in_scale,
                           self.in_zero_point, isa)

    def pooled(self, x):
        """The layer on the global average pool of ``x`` [N, C, S, S] (the
        mean of each channel as ``F.avg_pool2d(x, S)`` computes it: within
        float rounding of ``adaptive_avg_pool2d``'s) in one native pass
        (``pooled_int8_conv`` with ``pool = S``), [N, O]; None where the
        library's int8 path does not run here or on ``x`` (not a square
        float CPU map of ``in_features`` channels)."""
        isa = _native_int8_isa()
        if isa is None or x.device.type != 'cpu' or x.dim() != 4 or \
                x.shape[1] != self.op.in_features or \
                x.shape[2] != x.shape[3] or x.shape[2] < 1:
            return None
        return pooled_int8_conv(x, *self._int8_weights(), self.in_scale,
                                self.in_zero_point, isa,
                                pool=x.shape[2]).flatten(1)


def use_int8_engine() -> str:
    """Switch PyTorch's quantized ops to its int8 engine for this CPU
    (x86 > fbgemm > qnnpack) and return its name."""
    engines = torch.backends.quantized.supported_engines
    for engine in ('x86', 'fbgemm', 'qnnpack'):
        if engine in engines:
            torch.backends.quantized.engine = engine
            return engine
    raise RuntimeError(f'no int8 engine in this PyTorch (it has {engines})')


def fold_batch_norms(model: nn.Module) -> int:
    """Fold each eval-mode ``BatchNorm2d`` that directly follows a float
    ``nn.Conv2d`` in an ``nn.Sequential`` (the stem, the downsample
    shortcuts) into the conv's weight and bias, and put an ``nn.Identity``
    in its place: one pass over the feature map less, and the int8 conv
    then quantizes the BN's output range. Returns the count."""
    count = 0
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for conv_name, bn_name in zip(names, names[1:]):
            conv, bn = seq._modules[conv_name], seq._modules[bn_name]
            if not (type(conv) is nn.Conv2d and type(bn) is nn.BatchNorm2d
                    and not bn.training and bn.track_running_stats):
                continue
            with torch.no_grad():
                ones = torch.ones_like(bn.running_var)
                gain, shift = fold_batch_norm(
                    bn, ones, conv.bias if conv.bias is not None
                    else torch.zeros_like(ones))
                dtype = conv.weight.dtype
                conv.weight = nn.Parameter(
                    conv.weight * gain.to(dtype).view(-1, 1, 1, 1))
                conv.bias = nn.Parameter(shift.to(dtype))
            seq._modules[bn_name] = nn.Identity()
            count += 1
    return count


def _is_max_pool(module: nn.Module) -> bool:
    """A plain max-pool: ``nn.MaxPool2d`` or mmbnn's (the same op, faster
    on the CPU), not some other subclass with a forward of its own."""
    return type(module) in (nn.MaxPool2d, MaxPool2d)


def fuse_max_pools(model: nn.Module) -> int:
    """Move each ``nn.MaxPool2d`` that follows an ``Int8Conv2d`` in an
    ``nn.Sequential`` (``nn.Identity`` between them allowed: a folded BN)
    into it (one that returns indices stays), to run on the conv's uint8
    output before it is dequantized (a quarter of the bytes, the quantized
    engine's pool), and put an ``nn.Identity`` in its place. Exact:
    dequantizing, ``(q - zero_point) * scale`` with ``scale > 0``, keeps the
    order of values, so the max of the dequantized values is the dequantized
    max. Returns the count."""
    count = 0
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        conv = None
        for name, module in list(seq._modules.items()):
            if isinstance(module, Int8Conv2d) and module.pool is None:
                conv = module
            elif (_is_max_pool(module) and conv is not None
                  and not module.return_indices):
                conv.pool = module
                seq._modules[name] = nn.Identity()
                conv = None
                count += 1
            elif type(module) is not nn.Identity:
                conv = None
    return count


def uint8_pool_dequantize(y: torch.Tensor, kernel: int, stride: int,
                          padding: int, isa: str) -> torch.Tensor:
    """The quint8 ``[N, C, H, W]`` tensor ``y`` max-pooled (``kernel`` x
    ``kernel``, as ``F.max_pool2d``; kernel 1, stride 1: not pooled) and
    dequantized in one native pass, exactly as the quantized pool and
    ``dequantize`` give it; float32, channels-last, carrying its sign bits
    for the binary conv that may read it next."""
    from mmbnn.ops import native
    y = y.contiguous(memory_format=torch.channels_last)
    n, c, h, w = y.shape
    oh = (h + 2 * padding - kernel) // stride + 1
    ow = (w + 2 * padding - kernel) // stride + 1
    out = torch.empty(n, oh, ow, c)
    bits = torch.empty(n, oh, ow, (c + 63) // 64, dtype=torch.int64)
    status = native.library().mmbnn_uint8_pool_dequantize(
        y.data_ptr(), n, h, w, c, kernel, stride, padding, y.q_zero_point(),
        y.q_scale(), out.data_ptr(), bits.data_ptr(), native.ISA_CODES[isa],
        native.threads())
    if status:
        raise RuntimeError(f'no native int8 path for {isa!r} here, or a '
                           f'pool it cannot run ({kernel}, {stride}, '
                           f'{padding})')
    out = out.permute(0, 3, 1, 2)
    setattr(out, _BITS, (bits, out._version))
    return out


def _square(v):
    return _pair(v)[0] == _pair(v)[1]


@lru_cache(maxsize=256)
def _inverse(scale: float) -> float:
    """``1 / scale`` in float32, as PyTorch's quantizer computes it."""
    return (1 / torch.tensor(scale, dtype=torch.float32)).item()


def fuse_avg_pools(model: nn.Module) -> int:
    """Move each 2x2, stride-2, unpadded ``nn.AvgPool2d`` (Bi-Real's has
    ``ceil_mode``, which only differs on odd sizes) directly in front
    of a 1x1, stride-1 ``Int8Conv2d`` in an ``nn.Sequential`` (a Bi-Real
    downsample shortcut: pool, conv, folded BN) into the conv
    (``Int8Conv2d.pre_pool``) and put an ``nn.Identity`` in its place.
    Returns the count."""
    count = 0
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        items = list(seq._modules.items())
        for (name, pool), (_, conv) in zip(items, items[1:]):
            if type(pool) is nn.AvgPool2d and _pair(pool.kernel_size) == (
                    2, 2) and _pair(pool.stride) == (2, 2) and _pair(
                        pool.padding) == (0, 0) and \
                    pool.divisor_override is None and \
                    isinstance(conv, Int8Conv2d) and conv.pre_pool is None \
                    and conv.pool is None and conv.op.kernel_size == (1, 1) \
                    and conv.op.stride == (1, 1) and conv.op.padding == (
                        0, 0) and conv.op.groups == 1:
                conv.pre_pool = pool
                seq._modules[name] = nn.Identity()
                count += 1
    return count


def quantize_float_layers(model: nn.Module, batches: Iterable,
                          forward: Callable = None) -> int:
    """Replace, in place, every float ``nn.Conv2d`` and ``nn.Linear`` of
    ``model`` (exactly those types: binary and XNOR layers are left alone)
    by its int8 twin, calibrated on the activation ranges seen while
    ``forward(model, batch)`` (default ``model(batch)``) runs each of
    ``batches``. Eval-mode BNs right after a float conv are folded into it
    first (``fold_batch_norms``), a max-pool right after an int8 conv
    then runs on its uint8 output (``fuse_max_pools``), and a 2x2 average
    pool right before a 1x1 one in it (``fuse_avg_pools``). Returns the
    number of layers replaced; the model is put in eval mode."""
    if any(p.device.type != 'cpu' for p in model.parameters()):
        raise RuntimeError('int8 layers run on the CPU only; move the model '
                           'to the CPU first')
    model.eval()
    fold_batch_norms(model)
    forward = forward or (lambda m, batch: m(batch))
    targets = {name: module for name, module in model.named_modules()
               if name and type(module) in (nn.Conv2d, nn.Linear)}
    if not targets:
        return 0
    ranges = {}

    def observe(name):
        def hook(module, args, out):
            seen = ranges.setdefault(name, [float('inf'), float('-inf')] * 2)
            for i, t in ((0, args[0]), (2, out)):
                seen[i] = min(seen[i], t.min().item())
                seen[i + 1] = max(seen[i + 1], t.max().item())
        return hook

    handles = [m.register_forward_hook(observe(n)) for n, m in targets.items()]
    try:
        with torch.no_grad():
            count = 0
            for batch in batches:
                forward(model, batch)
                count += 1
    finally:
        for handle in handles:
            handle.remove()
    if not count:
        raise ValueError('quantize_float_layers needs at least one '
                         'calibration batch')
    use_int8_engine()
    replaced = 0
    for name, module in targets.items():
        if name not in ranges:  # not run in calibration: stays float
            continue
        low_in, high_in, low_out, high_out = ranges[name]
        layer = Int8Conv2d if type(module) is nn.Conv2d else Int8Linear
        parent, _, child = name.rpartition('.')
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, child, layer(module, (low_in, high_in),
                                    (low_out, high_out)))
        replaced += 1
    fuse_max_pools(model)
    fuse_avg_pools(model)
    return replaced
