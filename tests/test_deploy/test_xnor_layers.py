"""mmbnn/deploy/xnor_layers.py: the inference layers against their PyTorch
twins."""
import itertools

import pytest
import torch
import torch.nn as nn

from mmbnn.deploy import XnorConv2d, XnorLinear, to_xnor
from mmbnn.models.layers import BinaryConv2d, BinaryLinear
from toy import randomize_norms


def test_layers_match_their_pytorch_twins():
    torch.manual_seed(0)
    x = torch.randn(3, 70, 8, 8)
    for binarizer, bias in itertools.product(('imb', 'sign', 'xnor'),
                                             (False, True)):
        conv = BinaryConv2d(70, 20, 3, 2, 1, bias=bias,
                            weight_binarizer=binarizer).eval()
        twin = XnorConv2d.from_binary(conv)
        with torch.no_grad():
            ref, out = conv(x), twin(x)
        if binarizer == 'xnor' or bias:
            # PyTorch sums float-scaled terms, or starts its sum at the bias.
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        else:  # a power of two times an integer: exact
            assert torch.equal(out, ref), binarizer
    lin = BinaryLinear(100, 7).eval()
    with torch.no_grad():
        assert torch.equal(XnorLinear.from_binary(lin)(x.flatten(1)[:, :100]),
                           lin(x.flatten(1)[:, :100]))


def test_layers_that_xnor_cannot_run_are_refused():
    with pytest.raises(ValueError, match="binarize='weights'"):
        XnorConv2d.from_binary(BinaryConv2d(4, 4, 3, binarize='weights'))
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        XnorConv2d.from_binary(BinaryConv2d(4, 4, 3, padding=1,
                                            padding_mode='reflect'))
    model = nn.Sequential(BinaryConv2d(4, 4, 3, binarize='activations'))
    to_xnor(model)  # left as a PyTorch layer
    assert isinstance(model[0], BinaryConv2d)


def test_runtime_follows_weights_and_norms_changed_in_place():
    """Cached packed weights and folded BN follow in-place changes (a state
    dict load writes in place)."""
    conv = BinaryConv2d(20, 12, 3, padding=1, bias=False).eval()
    twin = XnorConv2d.from_binary(conv)
    bn = randomize_norms(nn.Sequential(nn.BatchNorm2d(12))).eval()[0]
    x = torch.randn(1, 20, 6, 6, generator=torch.Generator().manual_seed(8))
    flipped = XnorConv2d.from_binary(BinaryConv2d(20, 12, 3, padding=1,
                                                  bias=False))
    with torch.no_grad():
        flipped.set_weight(-conv.weight, 'imb')  # every weight's sign flips
        plain = twin(x)
        folded = twin(x, norm=bn)
        original = twin.weight_bits.clone()
        twin.weight_bits.copy_(flipped.weight_bits)
        assert torch.equal(twin(x), -plain)
        twin.weight_bits.copy_(original)
        bn.running_mean.add_(1.0)
        expected = bn(plain)
        moved = twin(x, norm=bn)
        twin.scale_exp.add_(1)  # scales double
        assert torch.equal(twin(x), 2 * plain)
    torch.testing.assert_close(moved, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(moved, folded)


def test_xnor_linear_on_batched_sequences():
    lin = BinaryLinear(70, 9, weight_binarizer='xnor').eval()
    x = torch.randn(2, 3, 70, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        out = XnorLinear.from_binary(lin)(x)
        ref = lin(x)
    assert out.shape == (2, 3, 9)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_layer_arguments_defaults_and_refusals_in_full():
    conv = XnorConv2d(64, 8, 3)
    assert (conv.stride, conv.padding, conv.dilation, conv.groups,
            conv.scale_kind, conv.bias) == ((1, 1), (0, 0), (1, 1), 1, 'pow2',
                                            None)
    # One 64-bit word (8 bytes) per 64 input channels of a group, rounded up.
    assert (conv.weight_bits.shape, conv.weight_bits.dtype) == \
        ((8, 3, 3, 8), torch.uint8)
    assert XnorConv2d(65, 8, 1).weight_bits.shape == (8, 1, 1, 16)
    assert XnorConv2d(130, 4, 1, groups=2).weight_bits.shape == (4, 1, 1, 16)
    assert (conv.scale_exp.dtype, conv.scale_exp.shape) == (torch.int8, (8, ))
    assert repr(conv) == ('XnorConv2d(64, 8, kernel_size=(3, 3), stride=(1, 1), '
                          'padding=(0, 0), dilation=(1, 1), groups=1, '
                          'scale=pow2, bias=False)')
    assert XnorConv2d(4, 4, 1, bias=True).bias.tolist() == [0.0] * 4
    linear = XnorLinear(100, 7)
    assert (linear.kernel_size, linear.bias, linear.scale_kind) == \
        ((1, 1), None, 'pow2')
    for kwargs, message in (
            (dict(scale='int'), "scale must be 'pow2', 'float' or 'none', got "
             "'int'"),
            (dict(groups=3), '6 -> 4 channels do not split into 3 groups'),
            (dict(groups=4), '6 -> 4 channels do not split into 4 groups')):
        with pytest.raises(ValueError) as e:
            XnorConv2d(6, 4, 3, **kwargs)
        assert e.value.args[0] == message
    with pytest.raises(ValueError) as e:
        XnorConv2d.from_binary(BinaryConv2d(4, 4, 3, binarize='weights'))
    assert e.value.args[0] == (
        'only layers with binary weights and activations run on XNOR and '
        "popcount; this one has binarize='weights'")
    layer = BinaryLinear(4, 4)
    layer.activation_binarizer = 'rsign'
    with pytest.raises(ValueError) as e:
        XnorLinear.from_binary(layer)
    assert e.value.args[0] == "unsupported activation binarizer 'rsign'"
    with pytest.raises(ValueError) as e:
        conv(torch.zeros(64, 5, 5))
    assert e.value.args[0] == 'XnorConv2d takes [N, C, H, W], got (64, 5, 5)'


def test_caches_are_reused_and_follow_replaced_tensors():
    """Unchanged, the packed weight and the folded BN are computed once;
    a buffer replaced by another tensor (a move, an assignment), a BN's
    ``eps`` or the scale under a BN changed: recomputed."""
    conv = BinaryConv2d(20, 12, 3, padding=1, bias=False).eval()
    twin = XnorConv2d.from_binary(conv)
    other = XnorConv2d.from_binary(BinaryConv2d(20, 12, 3, padding=1,
                                                bias=False))
    bn = randomize_norms(nn.Sequential(nn.BatchNorm2d(12))).eval()[0]
    x = torch.randn(1, 20, 6, 6, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        packed = twin.packed_weight()
        assert twin.packed_weight() is packed
        folded = twin._affine(bn)
        assert twin._affine(bn) is folded
        plain, normed = twin(x), twin(x, norm=bn)
        assert twin.weight_bits._version == other.weight_bits._version
        twin.weight_bits = other.weight_bits  # same version, another tensor
        assert torch.equal(twin(x), other(x))
        twin.weight_bits = XnorConv2d.from_binary(conv).weight_bits
        assert torch.equal(twin(x), plain)
        bn.eps = 0.5
        expected = bn(plain)
        torch.testing.assert_close(twin(x, norm=bn), expected, rtol=1e-5,
                                   atol=1e-5)
        twin.scale_exp.add_(1)  # the binary scale doubles under the BN
        torch.testing.assert_close(twin(x, norm=bn), bn(2 * plain), rtol=1e-5,
                                   atol=1e-5)
    assert not torch.allclose(normed, expected)


def test_output_dtype_and_layout_follow_the_input():
    """Alone, the layer returns the input's float dtype (float32 for an
    integer input) in the input's layout (NCHW stays NCHW, channels-last
    stays channels-last); a fused call (BN, residual or clip) returns
    channels-last, the layout the fused kernels read and write."""
    conv = BinaryConv2d(8, 4, 3, padding=1, bias=False).eval()
    twin = XnorConv2d.from_binary(conv)
    bn = randomize_norms(nn.Sequential(nn.BatchNorm2d(4))).eval()[0]
    x = torch.randn(2, 8, 5, 5, generator=torch.Generator().manual_seed(3))
    last = torch.channels_last
    with torch.no_grad():
        ref = conv(x)
        for inp, dtype in ((x, torch.float32), (x.double(), torch.float64),
                           ((x >= 0).to(torch.uint8) * 2, torch.float32)):
            out = twin(inp)
            assert out.dtype == dtype and out.is_contiguous()
            if inp.dtype != torch.uint8:
                assert torch.equal(out.float(), ref)
        assert twin(x.contiguous(memory_format=last)).is_contiguous(
            memory_format=last)
        strided = torch.randn(2, 8, 5, 10)[..., ::2]  # neither layout
        assert twin(strided).is_contiguous()
        for kwargs in (dict(norm=bn), dict(residual=torch.zeros(2, 4, 5, 5)),
                       dict(clip=True)):
            out = twin(x, **kwargs)
            assert out.is_contiguous(memory_format=last), kwargs
            assert not out.is_contiguous(), kwargs


def test_a_grouped_layer_packs_its_own_input_and_caches_follow_every_part():
    """The sign bits a fused layer leaves for the next one are laid out for
    one group: a grouped layer after it packs its input itself. The folded
    affine follows an XNOR scale and a bias changed in place and a BN
    tensor replaced by another of the same version."""
    gen = torch.Generator().manual_seed(5)
    first = BinaryConv2d(8, 70, 3, padding=1, bias=False).eval()
    grouped = BinaryConv2d(70, 10, 3, padding=1, groups=2, bias=False).eval()
    x = torch.randn(1, 8, 6, 6, generator=gen)
    with torch.no_grad():
        y = XnorConv2d.from_binary(first)(x, clip=True, want_bits=True)
        assert torch.equal(XnorConv2d.from_binary(grouped)(y), grouped(y))

    conv = BinaryConv2d(20, 12, 3, padding=1, weight_binarizer='xnor').eval()
    twin = XnorConv2d.from_binary(conv)
    bn = randomize_norms(nn.Sequential(nn.BatchNorm2d(12))).eval()[0]
    x = torch.randn(1, 20, 6, 6, generator=gen)
    with torch.no_grad():
        plain = twin(x)
        bias = twin.bias.view(1, -1, 1, 1).clone()
        twin.scale.mul_(2)  # each part alone, in place
        torch.testing.assert_close(twin(x), 2 * plain - bias, rtol=1e-6,
                                   atol=1e-6)
        twin.bias.mul_(2)
        assert torch.equal(twin(x), 2 * plain)
        normed = twin(x, norm=bn)
        var = bn.running_var * 4
        while var._version < bn.running_var._version:
            var.add_(0)
        bn.running_var = var
        out = twin(x, norm=bn)
    torch.testing.assert_close(out, bn(2 * plain), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out, normed)


def test_prepared_native_call_follows_shape_and_residual_layout():
    """The layer prepares its native call once per input shape and output
    transform: a new shape, a residual in another layout, or a float input
    after a packed one get a call of their own (each result equal to the
    PyTorch layer's), and the layer checks the first call of each; a
    prepared call given what it was not prepared for refuses it, naming
    what differs."""
    conv = BinaryConv2d(20, 12, 3, padding=1, bias=False).eval()
    twin = XnorConv2d.from_binary(conv)
    gen = torch.Generator().manual_seed(9)
    last = torch.channels_last
    with torch.no_grad():
        inputs = [torch.randn(*shape, generator=gen) for shape in
                  ((1, 20, 6, 6), (2, 20, 5, 7), (1, 20, 6, 6))]
        for x in inputs:  # one shape after another
            assert torch.equal(twin(x), conv(x))
        for x in inputs:
            r = torch.randn(conv(x).shape, generator=gen)
            for res in (r, r.contiguous(memory_format=last), r.double()):
                torch.testing.assert_close(twin(x, residual=res), conv(x) + r,
                                           rtol=1e-6, atol=1e-6)
        first = XnorConv2d.from_binary(BinaryConv2d(8, 20, 3, padding=1))
        y = first(torch.randn(1, 8, 6, 6, generator=gen), clip=True,
                  want_bits=True)
        packed_out = twin(y)  # reads y's sign bits
        assert torch.equal(packed_out, twin(y.clone()))  # packs y itself
        assert torch.equal(packed_out, conv(y))
        # A residual of another shape with the prepared one's strides (a
        # view) is refused, after a good call and again on its own: calls
        # past the first run unchecked only on the key that was checked.
        x = inputs[0]
        r = torch.randn(conv(x).shape, generator=gen)
        twin(x, residual=r)
        for _ in range(2):
            with pytest.raises(ValueError, match=r'residual must be float32 '
                               r'\(1, 12, 6, 6\), got torch.float32 '
                               r'\(1, 12, 6, 5\)'):
                twin(x, residual=r[..., :5])

    from mmbnn.ops.native import select_isa
    from mmbnn.ops.xnor_conv import ConvCall, pack_activations
    if select_isa() == 'reference':
        return  # no native call to prepare
    x = torch.randn(1, 20, 6, 6, generator=gen)
    ones, zeros = torch.ones(12), torch.zeros(12)
    call = ConvCall(x.shape, twin.packed_weight(), (1, 1), (1, 1), (1, 1),
                    ones, zeros, (432, 36, 6, 1), False, False, True,
                    select_isa(), 1)
    bits = pack_activations(x)
    r = torch.zeros(1, 12, 6, 6)
    with pytest.raises(ValueError, match='prepared for a packed input'):
        call(x, None, r)
    with pytest.raises(ValueError, match=r'strides \(432, 36, 6, 1\), got '
                       r'\(432, 1, 72, 12\)'):
        call(x, bits, r.contiguous(memory_format=last))
    with pytest.raises(ValueError, match='prepared with a residual'):
        call(x, bits)
    with pytest.raises(ValueError, match=r'packed input must be contiguous '
                       r'int64 \(1, 6, 6, 1\), got torch.int64 \(1, 6, 5, 1\)'):
        call(x, bits[:, :, :5].contiguous(), r)
    with pytest.raises(ValueError, match=r'alpha must be contiguous float32 '
                       r'\(12,\), got torch.float32 \(11,\)'):
        ConvCall(x.shape, twin.packed_weight(), (1, 1), (1, 1), (1, 1),
                 ones[:11], zeros, None, False, False, True, select_isa(), 1)
    float_call = ConvCall(x.shape, twin.packed_weight(), (1, 1), (1, 1),
                          (1, 1), ones, zeros, None, False, False, False,
                          select_isa(), 1)
    with pytest.raises(ValueError, match=r'prepared for a float32 CPU input '
                       r'\(1, 20, 6, 6\), got torch.float32 cpu \(1, 20, 6, 5\)'):
        float_call(x[..., :5])
    assert torch.equal(float_call(x)[0], conv(x))
    torch.testing.assert_close(call(x, bits, r)[0], conv(x))


def test_a_chain_of_native_calls_equals_its_calls_one_by_one():
    """``ConvChain``: three prepared convs in one native call, each reading
    the previous one's bits and adding its output, give what the three
    calls give one after another (their scratch outputs hidden, only the
    last returned); a call that does not read its predecessor's output
    (a float input, another shape) or gives no bits is refused, and a
    residual of another layout is refused on a call as the layer's own."""
    from mmbnn.ops.native import select_isa
    from mmbnn.ops.xnor_conv import ConvCall, ConvChain
    isa = select_isa()
    if isa == 'reference':
        pytest.skip('no native library here')
    gen = torch.Generator().manual_seed(4)
    layers = [XnorConv2d.from_binary(BinaryConv2d(16, 16, 3, padding=1))
              for _ in range(3)]
    x = torch.randn(2, 16, 7, 5, generator=gen).contiguous(
        memory_format=torch.channels_last)
    affine = [(torch.rand(16, generator=gen) + 0.5, torch.randn(16,
                                                                 generator=gen))
              for _ in layers]

    def prepared(layer, alpha, beta, packed, strides, bits=True):
        return ConvCall(x.shape, layer.packed_weight(), (1, 1), (1, 1),
                        (1, 1), alpha, beta, strides, True, bits, packed,
                        isa, 1)
    cl = x.stride()
    calls = [prepared(layers[0], *affine[0], False, cl)] + [
        prepared(layer, *ab, True, (16 * 35, 1, 80, 16))
        for layer, ab in zip(layers[1:], affine[1:])]
    y, bits = x, None
    for call in calls:  # one by one, each handing its output on
        y, bits = call(y, bits, y)
    chain = ConvChain(calls)
    out, out_bits = chain.run(x, None, x)
    assert torch.equal(out, y) and torch.equal(out_bits, bits)
    assert out.shape == (2, 16, 7, 5) and (out.abs() <= 1).all()
    with pytest.raises(ValueError, match="reads the previous one's bits"):
        ConvChain([calls[0], prepared(layers[1], *affine[1], False, cl)])
    with pytest.raises(ValueError, match='each give their sign bits'):
        ConvChain([calls[0], prepared(layers[1], *affine[1], True, cl,
                                      bits=False)])
    with pytest.raises(ValueError, match='strides'):
        chain.run(x, None, x.contiguous())
