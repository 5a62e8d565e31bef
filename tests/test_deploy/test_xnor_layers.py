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
