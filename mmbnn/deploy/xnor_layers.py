"""Inference layers on the XNOR-popcount kernels (docs/deploy.md).

``XnorConv2d`` / ``XnorLinear`` keep only a binary layer's weight sign bits
and its per-channel scale. Alone, each returns exactly what the PyTorch
layer returns (``s * dot``, the integer dot of +-1 vectors times a power of
two, plus the bias); given an eval BN, a residual and a clip (the fused
blocks of ``convert``), the kernel applies them in the same pass.
"""
import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair

from mmbnn.models.layers.binary import BinaryConv2d, BinaryLinear
from mmbnn.ops import imb_standardize, native, power_of_two_scale
from mmbnn.ops.bits import pack_bit_words
from mmbnn.ops.native import select_isa
from mmbnn.ops.xnor_conv import (ConvCall, PackedWeight, nchw_view,
                                 xnor_conv2d)

__all__ = ['XnorConv2d', 'XnorLinear']

# Bits of the next binary layer's input, left on a tensor by the layer that
# made it: (bits, tensor version when they were taken).
_BITS = '_mmbnn_sign_bits'


def fold_batch_norm(norm: nn.Module, scale: torch.Tensor,
                    bias: torch.Tensor):
    """``(alpha, beta)``, float32, with ``alpha * t + beta`` equal to the
    eval-mode BatchNorm ``norm`` of ``scale * t + bias`` (per channel),
    computed in float64: how a BN after a conv folds into it."""
    scale, bias = scale.double(), bias.double()
    inv = (norm.running_var.double() + norm.eps).rsqrt()
    gamma = norm.weight.double() if norm.weight is not None else 1.0
    shift = norm.bias.double() if norm.bias is not None else 0.0
    return ((scale * gamma * inv).float(),
            ((bias - norm.running_mean.double()) * gamma * inv + shift).float())


class XnorConv2d(nn.Module):
    """A binary conv for inference: sign bits of the weight, 1 bit each
    (``weight_bits``, uint8 ``[O, KH, KW, 8 * ceil(Cg / 64)]``, see
    ``ops.bits.pack_bit_words``), and its per-channel scale: ``scale_exp`` (int8,
    IMB's power of two ``2 ** e``), ``scale`` (float, XNOR's mean ``|w|``) or
    none (plain sign). Inputs are binarized as ``x >= 0``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, dilation=1, groups=1, bias=False,
                 scale='pow2'):
        super().__init__()
        if scale not in ('pow2', 'float', 'none'):
            raise ValueError(f"scale must be 'pow2', 'float' or 'none', got "
                             f'{scale!r}')
        kh, kw = _pair(kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'{in_channels} -> {out_channels} channels do not '
                             f'split into {groups} groups')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.groups = (kh, kw), groups
        self.stride, self.dilation = _pair(stride), _pair(dilation)
        self.padding = _pair(padding)
        self.scale_kind = scale
        words = (in_channels // groups + 63) // 64
        self.register_buffer('weight_bits', torch.zeros(
            out_channels, kh, kw, words * 8, dtype=torch.uint8))
        if scale == 'pow2':
            self.register_buffer('scale_exp', torch.zeros(out_channels,
                                                          dtype=torch.int8))
        elif scale == 'float':
            self.register_buffer('scale', torch.ones(out_channels))
        self.register_buffer('bias', torch.zeros(out_channels) if bias
                             else None)
        self._cache = {}

    def __getstate__(self):
        """Without the prepared native calls (they hold the addresses of
        this module's tensors): a copy or an unpickled module prepares its
        own, and a model that has run pickles."""
        state = self.__dict__.copy()
        state['_cache'] = {}
        return state

    @classmethod
    def from_binary(cls, layer: BinaryConv2d) -> 'XnorConv2d':
        """The inference twin of a fully binary ``BinaryConv2d``."""
        _check_convertible(layer)
        if layer.padding_mode != 'zeros' or isinstance(layer.padding, str):
            raise ValueError(f'XnorConv2d pads with zeros only; the layer has '
                             f'padding={layer.padding!r}, padding_mode='
                             f'{layer.padding_mode!r}')
        new = cls(layer.in_channels, layer.out_channels, layer.kernel_size,
                  layer.stride, layer.padding, layer.dilation, layer.groups,
                  layer.bias is not None, _SCALES[layer.weight_binarizer])
        new.set_weight(layer.weight.detach(), layer.weight_binarizer)
        if layer.bias is not None:
            new.bias.copy_(layer.bias.detach())
        return new

    @torch.no_grad()
    def set_weight(self, weight: torch.Tensor, binarizer: str):
        """Sign bits and scale of ``weight`` as ``mmbnn.ops``' binarizer
        ``binarizer`` computes them (``imb``, ``xnor`` or ``sign``)."""
        weight = weight.detach().float().cpu()
        seen = imb_standardize(weight) if binarizer == 'imb' else weight
        bits = pack_bit_words((seen >= 0).permute(0, 2, 3, 1))
        self.weight_bits.copy_(bits.contiguous().view(torch.uint8).view_as(
            self.weight_bits))
        if binarizer == 'imb':
            scale = power_of_two_scale(seen).flatten()
            exp = torch.log2(scale).round()
            if exp.abs().max() > 127:
                raise ValueError('a power-of-two scale does not fit int8')
            self.scale_exp.copy_(exp.to(torch.int8))
        elif binarizer == 'xnor':
            self.scale.copy_(weight.flatten(1).abs().mean(1))
        self._cache.clear()

    def channel_scale(self) -> torch.Tensor:
        """Per output channel scale of the binary weight, float32."""
        if self.scale_kind == 'pow2':
            return torch.exp2(self.scale_exp.float())
        if self.scale_kind == 'float':
            return self.scale.float()
        return torch.ones(self.out_channels)

    def packed_weight(self) -> PackedWeight:
        weight_bits = self._buffers['weight_bits']
        key = (id(weight_bits), weight_bits._version)
        cached = self._cache.get('weight')
        if cached is None or cached[0] != key:
            bits = weight_bits.cpu().clone(
                memory_format=torch.contiguous_format).view(torch.int64)
            cached = self._cache['weight'] = (key, PackedWeight(
                bits, self.in_channels, self.groups))
        return cached[1]

    def _affine(self, norm):
        """``(alpha, beta)`` of ``alpha * dot + beta``: the scale and bias,
        and ``norm`` (an eval BatchNorm) folded in, computed in float64;
        recomputed when any of them changed."""
        # The modules' own dicts, not attribute access: nn.Module's
        # __getattr__ fallback costs about a microsecond a name, per call.
        own = self._buffers
        tensors = [own.get('scale_exp'), own.get('scale'), own.get('bias')]
        if norm is not None:
            # A BN in training mode updates its running statistics inside
            # its kernel, which leaves their versions as they were; the
            # count of batches it took (bumped in Python) shows it.
            stats, params = norm._buffers, norm._parameters
            tensors += [stats.get('running_mean'), stats.get('running_var'),
                        stats.get('num_batches_tracked'),
                        params.get('weight'), params.get('bias')]
        key = (norm.eps if norm is not None else 0, ) + tuple(
            (id(t), t._version) for t in tensors if t is not None)
        cached = self._cache.get(('affine', id(norm)))
        if cached is None or cached[0] != key:
            cached = self._cache[('affine', id(norm))] = (key, self._fold(norm))
        return cached[1]

    def _fold(self, norm):
        s = self.channel_scale().double()
        b = self.bias.double() if self.bias is not None else torch.zeros_like(s)
        if norm is None:
            return s.float(), b.float()
        return fold_batch_norm(norm, s, b)

    def forward(self, x, norm: nn.Module = None, residual=None, clip=False,
                want_bits=False):
        """``conv(sign(x), s * sign(W)) + bias``; with ``norm`` (BN in eval
        mode, folded), ``residual`` and ``clip``: the fused block output."""
        if x.dim() != 4:
            raise ValueError(f'XnorConv2d takes [N, C, H, W], got {tuple(x.shape)}')
        packed = _cached_bits(x) if self.groups == 1 else None
        alpha, beta = self._affine(norm)
        isa = select_isa()
        device = x.device
        if device.type == 'cpu' and x.dtype == torch.float32 and \
                isa != 'reference':
            if residual is not None and residual.dtype != torch.float32:
                residual = residual.float()
            y, bits = self._conv_call(x, packed, alpha, beta, norm, residual,
                                      clip, want_bits, isa).run(x, packed,
                                                                residual)
        else:
            if device.type != 'cpu':  # the kernels are CPU code
                x = x.cpu()
                residual = residual.cpu() if residual is not None else None
            y, bits = xnor_conv2d(
                x.float(), self.packed_weight(), self.stride, self.padding,
                self.dilation, alpha, beta,
                residual.float() if residual is not None else None, clip,
                packed, want_bits, isa)
            y = y.to(device=device, dtype=x.dtype if x.is_floating_point()
                     else y.dtype)
        fused = norm is not None or residual is not None or clip
        if not fused and (x.is_contiguous() or not x.is_contiguous(
                memory_format=torch.channels_last)):
            # Alone, the layer keeps an NCHW network NCHW: later float layers
            # then compute exactly as in the PyTorch model. Fused blocks stay
            # channels-last, the layout their kernels read and write.
            y = y.contiguous()
        if bits is not None and device.type == 'cpu':
            setattr(y, _BITS, (bits, y._version))
        return y

    def _conv_call(self, x, packed, alpha, beta, norm, residual, clip,
                   want_bits, isa) -> ConvCall:
        """The native call prepared for this input shape and output
        transform (one per ``norm``), prepared anew (and its first input
        checked) when the shape, the transform, the weight or the folded
        affine changed; the caller runs it unchecked (``ConvCall.run``)."""
        # What ConvCall.check reads, so that a call with the same key may
        # skip it.
        key = (x.shape, packed is not None,
               residual.stride() if residual is not None else None,
               residual.shape if residual is not None else None, clip,
               want_bits, isa, native.threads())
        return self._prepared(key, alpha, beta, norm,
                              lambda call: call.check(x, packed, residual))

    def chained_call(self, out_shape, norm, isa) -> ConvCall:
        """The native call of this conv inside a chain (``ConvChain``): on
        the previous conv's sign bits, its float output (channels-last,
        ``out_shape`` (N, H, W, C): the previous call's) added as the
        residual, the BN ``norm`` folded, clipped, giving its own bits.
        Cached with ``_conv_call``'s, which a network in the same layout
        shares; not checked: the chain makes its inputs itself."""
        shape, stride = nchw_view(out_shape)
        key = (torch.Size(shape), True, stride, torch.Size(shape), True, True,
               isa, native.threads())
        return self._prepared(key, *self._affine(norm), norm)

    def _prepared(self, key, alpha, beta, norm, check=None) -> ConvCall:
        weight = self.packed_weight()
        slot = ('call', id(norm))
        cached = self._cache.get(slot)
        if cached is None or cached[0] != key or cached[1].weight is not \
                weight or cached[1].alpha is not alpha:
            shape, packed, stride, _, clip, want_bits, isa, threads = key
            call = ConvCall(shape, weight, self.stride, self.padding,
                            self.dilation, alpha, beta, stride, clip,
                            want_bits, packed, isa, threads)
            if check is not None:
                check(call)  # cached only once it passed
            cached = self._cache[slot] = (key, call)
        return cached[1]

    def extra_repr(self):
        return (f'{self.in_channels}, {self.out_channels}, kernel_size='
                f'{self.kernel_size}, stride={self.stride}, padding='
                f'{self.padding}, dilation={self.dilation}, groups='
                f'{self.groups}, scale={self.scale_kind}, bias='
                f'{self.bias is not None}')


class XnorLinear(XnorConv2d):
    """A binary linear layer for inference: a 1x1 ``XnorConv2d`` on
    ``[N, C]`` inputs (the bits are laid out as the conv's)."""

    def __init__(self, in_features, out_features, bias=False, scale='pow2'):
        super().__init__(in_features, out_features, 1, bias=bias, scale=scale)

    @classmethod
    def from_binary(cls, layer: BinaryLinear) -> 'XnorLinear':
        _check_convertible(layer)
        new = cls(layer.in_features, layer.out_features,
                  layer.bias is not None, _SCALES[layer.weight_binarizer])
        new.set_weight(layer.weight.detach()[:, :, None, None],
                       layer.weight_binarizer)
        if layer.bias is not None:
            new.bias.copy_(layer.bias.detach())
        return new

    def forward(self, x):
        lead = x.shape[:-1]
        y = super().forward(x.reshape(-1, x.shape[-1], 1, 1))
        return y.reshape(*lead, self.out_channels)


_SCALES = dict(imb='pow2', xnor='float', sign='none')


def _check_convertible(layer):
    if layer.binarize != 'both':
        raise ValueError(
            f'only layers with binary weights and activations run on XNOR and '
            f"popcount; this one has binarize={layer.binarize!r}")
    if layer.activation_binarizer != 'sign':
        raise ValueError(f'unsupported activation binarizer '
                         f'{layer.activation_binarizer!r}')


def _cached_bits(x):
    bits = getattr(x, _BITS, None)
    return bits[0] if bits is not None and bits[1] == x._version else None
