"""int8 full-precision layers (mmbnn.deploy.int8) against the float layers,
within the error bound that the quantization steps give."""
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmbnn.deploy.int8 import (QMAX, Int8Conv2d, Int8Linear,
                               activation_qparams, fold_batch_norms,
                               fuse_avg_pools, fuse_max_pools, int8_linear,
                               pooled_int8_conv, quantize_float_layers,
                               weight_scales)
from mmbnn.deploy.int8 import _int8_path, _native_int8_isa, _native_weights
from mmbnn.ops import native
from toy import randomize_norms
from mmbnn.models.layers.binary import BinaryConv2d


def ranges(x, y):
    return (x.min().item(), x.max().item()), (y.min().item(), y.max().item())


def test_activation_qparams_cover_the_range_with_zero_exact():
    scale, zero = activation_qparams(-1.0, 3.0)
    assert scale == pytest.approx(4.0 / QMAX) and zero == round(1.0 / scale)
    assert 0 <= zero <= QMAX
    # A range that does not hold 0 is widened to hold it.
    scale, zero = activation_qparams(0.5, 2.0)
    assert zero == 0 and scale == pytest.approx(2.0 / QMAX)


@pytest.mark.parametrize('stride,padding,groups,bias',
                         [(1, 1, 1, True), (2, 3, 1, False), (1, 0, 4, True)])
def test_int8_conv_within_the_quantization_bound(stride, padding, groups,
                                                 bias):
    """Each output is off by at most what rounding the input (step s_in),
    the weights (step s_w per output channel) and the output (s_out) can
    move it: s_in/2 * sum|w| + s_w/2 * sum(|x| + s_in/2) + s_out/2 over the
    receptive field (zero padding is exact)."""
    torch.manual_seed(0)
    kernel = 7 if padding == 3 else 3
    conv = nn.Conv2d(8, 16, kernel, stride, padding, groups=groups,
                     bias=bias).eval()
    x = torch.randn(2, 8, 20, 20) * 2 + 0.5
    y = conv(x)
    q = Int8Conv2d(conv, *ranges(x, y))
    s_in, s_out = q.in_scale, q.op.scale
    s_w = weight_scales(conv.weight).float().view(1, -1, 1, 1)

    def window_sum(inp, weight):
        return F.conv2d(inp, weight, None, stride, padding, 1, groups)

    bound = (s_in / 2 * window_sum(torch.ones_like(x), conv.weight.abs())
             + s_w / 2 * window_sum(x.abs() + s_in / 2,
                                    torch.ones_like(conv.weight))
             + s_out / 2 + 1e-4 * y.abs() + 1e-5)
    error = (q(x) - y).abs()
    assert (error <= bound).all(), (error - bound).max()
    # The bound is not slack everywhere: the error is a sizeable part of it.
    assert error.max() > 0.05 * bound.max()


def test_int8_linear_within_the_quantization_bound():
    torch.manual_seed(1)
    linear = nn.Linear(32, 10).eval()
    x = torch.randn(4, 32)
    y = linear(x)
    q = Int8Linear(linear, *ranges(x, y))
    s_in, s_out = q.in_scale, q.op.scale
    s_w = weight_scales(linear.weight).float()
    bound = (s_in / 2 * linear.weight.abs().sum(1)
             + s_w / 2 * (x.abs() + s_in / 2).sum(1, keepdim=True)
             + s_out / 2 + 1e-4 * y.abs() + 1e-5)
    assert ((q(x) - y).abs() <= bound).all()


def test_fold_batch_norms_keeps_the_outputs():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False),
                        nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4),
                        nn.BatchNorm2d(4))  # a BN after a BN stays
    randomize_norms(seq, seed=3).eval()
    x = torch.randn(2, 3, 10, 10)
    with torch.no_grad():
        ref = seq(x)
        assert fold_batch_norms(seq) == 2
        torch.testing.assert_close(seq(x), ref, rtol=1e-5, atol=1e-5)
    assert [type(m) for m in seq] == [nn.Conv2d, nn.Identity, nn.ReLU,
                                      nn.Conv2d, nn.Identity, nn.BatchNorm2d]
    training = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    assert fold_batch_norms(training) == 0  # batch statistics: not foldable


def test_int8_stem_follows_its_configuration():
    """Whether a stem runs natively is decided once and kept while its
    conv, pool, quantization and instruction set stay the same: a pool
    changed to ``ceil_mode`` (which the native stem does not take) runs
    PyTorch's op and pool at once, and back."""
    from mmbnn.deploy.int8 import _stem_path
    if native.library() is None or not _stem_path(native.select_isa()):
        pytest.skip('no native int8 stem path here')
    torch.manual_seed(2)
    stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3), nn.MaxPool2d(3, 2, 1))
    x = torch.randn(1, 3, 31, 31)
    with torch.no_grad():
        quantize_float_layers(stem, [x])
        layer = stem[0]
        assert layer._stem_args(x) is not None
        layer.pool.ceil_mode = True
        assert layer._stem_args(x) is None
        ceil = layer(x)
        assert ceil.shape[-1] == 9  # (16 + 2 - 3) / 2 rounded up, + 1
        layer.pool.ceil_mode = False
        assert layer._stem_args(x) is not None
        assert layer(x).shape[-1] == 8


def test_max_pool_on_the_uint8_output_is_exact():
    """A stem's int8 conv, folded BN and max-pool: the pool moved onto the
    conv's uint8 output gives exactly the float pool of its dequantized
    output (padding included); a pool that does not directly follow an
    int8 conv (a ReLU between) stays where it is."""
    torch.manual_seed(0)
    stem = nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3), nn.BatchNorm2d(8),
                         nn.MaxPool2d(3, 2, 1), nn.Conv2d(8, 8, 1),
                         nn.ReLU(), nn.MaxPool2d(2))
    randomize_norms(stem, seed=1).eval()
    x = torch.randn(2, 3, 30, 30)
    with torch.no_grad():
        assert quantize_float_layers(stem, [x]) == 2
        assert [type(m) for m in stem] == [
            Int8Conv2d, nn.Identity, nn.Identity, Int8Conv2d, nn.ReLU,
            nn.MaxPool2d]
        fused = stem[0](x)
        pool, stem[0].pool = stem[0].pool, None
        assert isinstance(pool, nn.MaxPool2d)
        expected = F.max_pool2d(stem[0](x), 3, 2, 1)
    assert torch.equal(fused, expected)
    assert fuse_max_pools(stem) == 0  # nothing left to fuse


def int8_paths():
    """The native int8 paths this machine runs (scalar with any library)."""
    if native.library() is None:
        return []
    return [isa for isa in ('avx512', 'scalar') if _int8_path(isa)]


@pytest.mark.parametrize('shape,pool', [
    ((1, 64, 8, 12, 128), 2), ((2, 6, 7, 9, 24), 2), ((1, 20, 10, 10, 40), 2),
    ((1, 3, 4, 4, 1), 2), ((2, 128, 11, 14, 40), 2), ((1, 192, 6, 6, 80), 2),
    ((1, 512, 7, 7, 1000), 7), ((17, 64, 5, 5, 24), 5),
    ((2, 20, 9, 10, 40), 3)])
def test_pooled_int8_conv_is_exact(shape, pool):
    """The native pool + quantize + 1x1 int8 conv on every path gives bit
    for bit what PyTorch's ops give on the same steps: avg_pool2d,
    quantize_per_tensor (its uint8 values), the integer products summed
    exactly, ``alpha * (sum - zp * sum(w)) + beta`` in float32. Shapes:
    channel counts that are not multiples of 4 (inputs) or 16 (outputs),
    odd sizes (the last row and column dropped), a batch of 2; on AVX-512
    with AMX and without (channel counts in 64s and at least 16 output
    pixels: the AMX tiles, with pixel counts not in 16s and output blocks
    not in 4s; fewer pixels run on VNNI either way). Pools: 2x2 (a
    downsample shortcut), 3x3, and the whole map (a global pool before a
    classifier's fc: ResNet-18's 7x7 x 512 -> 1000 on one image, and 17
    images' 5x5 maps on AMX)."""
    paths = int8_paths()
    if not paths:
        pytest.skip('no native library')
    n, c, h, w, o = shape
    torch.manual_seed(c + o)
    conv = nn.Conv2d(c, o, 1)
    x = torch.randn(n, c, h, w) * 2 + 0.3
    pooled = F.avg_pool2d(x, pool)
    # The input range narrower than the values: some saturate at 0 / 255.
    layer = Int8Conv2d(conv, (pooled.min().item() / 4,
                              pooled.max().item() / 4), (-5, 5))
    weights = _native_weights(layer.op, layer.in_scale)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        q = torch.quantize_per_tensor(pooled, layer.in_scale,
                                      layer.in_zero_point,
                                      torch.quint8).int_repr().long()
        wq = layer.op.weight().int_repr().flatten(1).long()
    assert (q == 0).any() and (q == 255).any()
    dot = torch.einsum('nchw,oc->nohw', q, wq)
    alpha = (layer.in_scale * layer.op.weight().q_per_channel_scales()
             ).float().view(1, -1, 1, 1)
    expected = (dot - layer.in_zero_point * wq.sum(1).view(1, -1, 1, 1)
                ).float() * alpha + conv.bias.detach().view(1, -1, 1, 1)
    for isa, amx in [(isa, amx) for isa in paths for amx in (True, False)]:
        y = pooled_int8_conv(x, *weights, layer.in_scale,
                             layer.in_zero_point, isa, amx, pool)
        assert y.shape == (n, o, h // pool, w // pool)
        assert torch.equal(y, expected), (isa, amx)
    with pytest.raises(ValueError, match='a pool of 0 pixels'):
        pooled_int8_conv(x, *weights, layer.in_scale, layer.in_zero_point,
                         paths[0], pool=0)


@pytest.mark.parametrize('shape', [(1, 512, 1000), (3, 20, 10), (37, 128, 40),
                                   (2, 7, 3), (2, 3, 64, 24)])
def test_int8_linear_is_exact(shape):
    """``int8_linear`` (``Int8Linear``'s native path) on every path gives the
    quantized input's exact integer products (PyTorch's quantize_per_tensor
    values), ``alpha * (sum - zp * sum(w)) + beta`` in float32, bit for bit:
    a classifier's 512 -> 1000, row counts not in 16s (AMX tiles), inputs
    not in 4s, a 3-D input (rows); and the layer takes that path."""
    paths = int8_paths()
    if not paths:
        pytest.skip('no native library')
    *rows, k, o = shape
    torch.manual_seed(k + o)
    linear = nn.Linear(k, o)
    x = torch.randn(*rows, k) * 2 + 0.3
    x.view(-1)[:2] = torch.tensor([-1e3, 1e3])  # saturate at 0 and 255
    layer = Int8Linear(linear, (-2, 2), (-5, 5))
    weights = _native_weights(layer.op, layer.in_scale)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        q = torch.quantize_per_tensor(x, layer.in_scale, layer.in_zero_point,
                                      torch.quint8).int_repr().long()
        wq = layer.op.weight().int_repr().long()
        alpha = (layer.in_scale * layer.op.weight().q_per_channel_scales()
                 ).float()
    assert (q == 0).any() and (q == 255).any()
    expected = (q @ wq.T - layer.in_zero_point * wq.sum(1)).float() * alpha \
        + linear.bias.detach()
    for isa, amx in [(isa, amx) for isa in paths for amx in (True, False)]:
        y = int8_linear(x, *weights, layer.in_scale, layer.in_zero_point,
                        isa, amx)
        assert y.shape == (*rows, o)
        assert torch.equal(y, expected), (isa, amx)
    if _native_int8_isa() is not None:
        assert torch.equal(layer(x), expected)


def test_int8_layers_follow_new_weights():
    """``op.set_weight_bias`` after a layer ran (its weights laid out for
    the library made) is seen: the stem (conv and max-pool), the pooled
    1x1 conv and the linear layer then give, bit for bit, what a layer made
    with those weights from the start gives."""
    torch.manual_seed(3)

    def twins(make):  # two float layers (two sets of weights) in int8
        return tuple((Int8Conv2d if isinstance(layer, nn.Conv2d)
                      else Int8Linear)(layer, (-3, 3), (-4, 4))
                     for layer in (make(), make()))

    stem = twins(lambda: nn.Conv2d(3, 16, 3, 1, 1))
    pooled = twins(lambda: nn.Conv2d(64, 16, 1))
    linear = twins(lambda: nn.Linear(64, 10))
    for layer in stem:
        layer.pool = nn.MaxPool2d(2)
    for layer in pooled:
        layer.pre_pool = nn.AvgPool2d(2, ceil_mode=True)
    cases = [(stem, torch.randn(2, 3, 12, 12)),
             (pooled, torch.randn(2, 64, 8, 8)),
             (linear, torch.randn(5, 64))]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # quantized tensors deprecated
        for (layer, fresh), x in cases:
            before = layer(x)
            layer.op.set_weight_bias(fresh.op.weight(), fresh.op.bias())
            after = layer(x)
            assert torch.equal(after, fresh(x)), type(layer)
            assert not torch.equal(after, before), type(layer)


def stem_paths():
    """The native int8 stem paths this machine runs: scalar with any
    library, AVX-512 where the CPU has AMX and the OS lets it be used."""
    from mmbnn.deploy.int8 import _stem_path
    if native.library() is None:
        return []
    return [isa for isa in ('avx512', 'scalar') if _stem_path(isa)]


@pytest.mark.parametrize('c,o,kernel,stride,padding,pool,size', [
    (3, 64, 7, 2, 3, (3, 2, 1), (23, 30)),  # a ResNet stem, odd sizes
    (3, 16, 3, 1, 1, (2, 2, 0), (9, 8)),    # a CIFAR one with a pool
    (5, 32, 5, 2, 2, (3, 3, 0), (17, 20)),  # 8 bytes a pixel, 1 row a step
    (4, 48, 8, 2, 3, (3, 1, 1), (12, 13)),  # 2 rows of 8 fill a step
    (1, 16, 1, 1, 0, (2, 2, 1), (6, 7))])
def test_int8_stem_is_exact_and_packs_the_signs(c, o, kernel, stride, padding,
                                                pool, size):
    """The native int8 stem (quantize, conv, transform, max-pool, in one
    pass) on every path equals bit for bit what PyTorch computes from the
    same steps: quantize_per_tensor's uint8 values, the integer products
    summed exactly in float64 (the padding adds nothing: zero point), the
    float32 transform ``alpha * (sum - zp * sum(w)) + beta``, then
    F.max_pool2d; and it leaves pack_activations' sign bits on its output.
    It is the int8 conv layer's output with the pool fused, within half an
    output step of PyTorch's op (which requantizes to its output range)."""
    from mmbnn.deploy.int8 import _Int8Layer, _stem_weights, int8_stem
    from mmbnn.deploy.xnor_layers import _cached_bits
    from mmbnn.ops.xnor_conv import pack_activations
    paths = stem_paths()
    if not paths:
        pytest.skip('no native library')
    torch.manual_seed(c * o)
    conv = nn.Conv2d(c, o, kernel, stride, padding)
    x = torch.randn(2, c, *size) * 1.5
    with torch.no_grad():
        float_out = conv(x)
    # The input range narrower than the values: some saturate at 0 / 255.
    layer = Int8Conv2d(conv, (x.min().item() / 2, x.max().item() / 2),
                       (float_out.min().item(), float_out.max().item()))
    x[1, :, 1, :3] = 1e3
    layer.pool = nn.MaxPool2d(*pool)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        q = torch.quantize_per_tensor(x, layer.in_scale, layer.in_zero_point,
                                      torch.quint8).int_repr().double()
        weight = layer.op.weight()
        wq = weight.int_repr().double()
        scales = weight.q_per_channel_scales()
    assert (q == 0).any() and (q == 255).any()
    dot = F.conv2d(q - layer.in_zero_point, wq, None, stride, padding)
    alpha = (layer.in_scale * scales.double()).float().view(1, -1, 1, 1)
    expected = F.max_pool2d(dot.float() * alpha + conv.bias.detach().view(
        1, -1, 1, 1), *pool)
    assert (expected > 0).any() and (expected < 0).any()
    weights = _stem_weights(layer.op, layer.in_scale)
    for isa in paths:
        y = int8_stem(x, weights, stride, padding, layer.in_scale,
                      layer.in_zero_point, pool, isa)
        assert y.shape == expected.shape
        assert y.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(y, expected), isa
        assert torch.equal(_cached_bits(y),
                           pack_activations(expected, 1, 'reference')), isa
    with torch.no_grad():
        fused = layer(x)  # the layer's own path: the native stem here
        op_path = _Int8Layer.forward(layer, x)  # PyTorch's op, then the pool
    assert torch.equal(fused, expected)
    # PyTorch's op rounds to its output steps and clamps to their range.
    step, zero = layer.op.scale, layer.op.zero_point
    clamped = fused.clamp(-zero * step, (255 - zero) * step)
    assert (clamped - op_path).abs().max() <= step / 2 + 1e-6
    with pytest.raises(ValueError, match=f'stem weights laid out for {c} '
                       f'input channels, the input has {c + 1}'):
        int8_stem(torch.cat([x, x[:, :1]], 1), weights, stride, padding,
                  layer.in_scale, layer.in_zero_point, pool, paths[0])


@pytest.mark.parametrize('c,size,pool', [(64, 14, (3, 2, 1)),
                                         (70, 9, (2, 2, 0)),
                                         (5, 6, (1, 1, 0)), (130, 7, (3, 1, 1))])
def test_uint8_pool_dequantize_is_exact_and_packs_the_signs(c, size, pool):
    """The native pool + dequantize of an int8 conv's uint8 output equals
    PyTorch's quantized max-pool and dequantize bit for bit on every path,
    and the sign bits it leaves on its output are pack_activations' of it
    (channel counts over one 64-bit word and with a tail; no pool, 2x2,
    3x3 with padding, stride 1 and 2, odd sizes)."""
    from mmbnn.deploy.int8 import uint8_pool_dequantize
    from mmbnn.deploy.xnor_layers import _cached_bits
    from mmbnn.ops.xnor_conv import pack_activations
    paths = int8_paths()
    if not paths:
        pytest.skip('no native library')
    torch.manual_seed(c)
    x = torch.randn(2, c, size, size + 1).contiguous(
        memory_format=torch.channels_last)
    k, stride, padding = pool
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        q = torch.quantize_per_tensor(x, 0.02, 70, torch.quint8)
        expected = (F.max_pool2d(q, k, stride, padding) if k > 1 else q
                    ).dequantize()
    assert (expected == 0).any()  # a sign exactly at zero
    for isa in paths:
        y = uint8_pool_dequantize(q, k, stride, padding, isa)
        assert torch.equal(y, expected), isa
        bits = _cached_bits(y)
        assert bits is not None and torch.equal(
            bits, pack_activations(expected, 1, 'reference')), isa


def test_downsample_shortcut_pool_moves_into_its_int8_conv():
    """A Bi-Real downsample shortcut (2x2 average pool with ceil_mode, 1x1
    conv, BN): after quantize_float_layers the pool sits in the int8 conv
    (an Identity in its place), whose output is within the quantization
    bound of the float shortcut, as the unfused pool + quantized op's is;
    on an odd size (where ceil_mode pools the edge alone) it runs the
    pool and the op. Pools that do not fit (3x3, before a 3x3 conv) stay."""
    torch.manual_seed(0)
    shortcut = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True,
                                          count_include_pad=False),
                             nn.Conv2d(16, 32, 1, bias=False),
                             nn.BatchNorm2d(32))
    other = nn.Sequential(nn.AvgPool2d(3, 2), nn.Conv2d(16, 8, 1),
                          nn.AvgPool2d(2), nn.Conv2d(8, 8, 3))
    randomize_norms(shortcut, seed=2).eval()
    calibration = [torch.randn(2, 16, 12, 12) for _ in range(2)]
    x, odd = torch.randn(2, 16, 12, 12), torch.randn(1, 16, 9, 11)
    with torch.no_grad():
        ref, ref_odd = shortcut(x), shortcut(odd)
        quantize_float_layers(shortcut, calibration)
        quantize_float_layers(other, [torch.randn(1, 16, 13, 13)])
        assert [type(m) for m in shortcut] == [nn.Identity, Int8Conv2d,
                                               nn.Identity]
        assert [type(m) for m in other] == [nn.AvgPool2d, Int8Conv2d,
                                            nn.AvgPool2d, Int8Conv2d]
        conv = shortcut[1]
        assert isinstance(conv.pre_pool, nn.AvgPool2d)
        fused, fused_odd = shortcut(x), shortcut(odd)
        pool, conv.pre_pool = conv.pre_pool, None
        unfused = conv(pool(x))
        unfused_odd = conv(pool(odd))
    assert fused_odd.shape == ref_odd.shape == (1, 32, 5, 6)
    if int8_paths():
        assert torch.equal(fused_odd, unfused_odd)  # the PyTorch ops
    # Bound (as test_int8_conv_within_the_quantization_bound, 1x1):
    s_in, s_out = conv.in_scale, conv.op.scale
    s_w = weight_scales(conv.op.weight().dequantize()).float().view(1, -1, 1, 1)
    weight = conv.op.weight().dequantize().flatten(1)
    pooled = F.avg_pool2d(x, 2)
    bound = (s_in / 2 * weight.abs().sum(1).view(1, -1, 1, 1)
             + s_w / 2 * (pooled.abs() + s_in / 2).sum(1, keepdim=True)
             + s_out / 2 + 1e-4 * ref.abs() + 1e-5)
    for y in (fused, unfused):
        assert ((y - ref).abs() <= bound).all()
    assert fuse_avg_pools(shortcut) == 0  # nothing left to fuse


class Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.binary = BinaryConv2d(8, 8, 3, padding=1, bias=False)
        self.unused = nn.Conv2d(8, 8, 1)  # never called in forward
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.binary(self.bn(self.stem(x)))
        return self.fc(x.mean((2, 3)))


def test_quantize_float_layers_replaces_the_float_layers_that_run():
    torch.manual_seed(0)
    net = Net().eval()
    calibration = [torch.randn(2, 3, 16, 16) for _ in range(3)]
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = net(x)
        assert quantize_float_layers(net, calibration) == 2
        out = net(x)
    assert isinstance(net.stem, Int8Conv2d) and isinstance(net.fc, Int8Linear)
    assert type(net.binary) is BinaryConv2d  # binary layers left alone
    assert type(net.unused) is nn.Conv2d  # no range seen: stays float
    # The ranges come from all calibration batches, not the last one.
    lows = min(b.min().item() for b in calibration)
    highs = max(b.max().item() for b in calibration)
    assert (net.stem.in_scale, net.stem.in_zero_point) == \
        activation_qparams(lows, highs)
    # The logits a sign layer downstream sees move (a sign flips where the
    # stem's output is near 0), but they are the int8 stem's, not garbage.
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert not torch.equal(out, ref)


def test_quantize_float_layers_bad_input():
    with pytest.raises(ValueError, match='at least one calibration batch'):
        quantize_float_layers(Net(), [])
    with pytest.raises(ValueError, match='zero padding'):
        Int8Conv2d(nn.Conv2d(3, 3, 3, padding=1, padding_mode='reflect'),
                   (0, 1), (0, 1))
    q = Int8Linear(nn.Linear(4, 2), (-1, 1), (-1, 1))
    if torch.cuda.is_available():
        with pytest.raises(RuntimeError, match='quantized CPU engine'):
            q(torch.zeros(1, 4, device='cuda'))
