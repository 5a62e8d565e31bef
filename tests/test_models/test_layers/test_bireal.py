"""mmbnn/models/layers/bireal.py: the Bi-Real blocks rebuilt from functional
ops."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmbnn.models.backbones import SSDVGGBN
from mmbnn.models.layers.bireal import BiRealConv
from reference import signs


def _bireal(in_ch, out_ch, stride):
    torch.manual_seed(5)
    block = BiRealConv(in_ch, out_ch, stride,
                       dict(type='BinaryConv2d', weight_binarizer='sign',
                            weight_estimator='ste', activation_estimator='ste'),
                       dict(type='BN'), dict(type='Hardtanh'))
    block.eval()
    for bn in [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]:
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.3, 0.3)
    return block


def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight,
                        bn.bias, False, 0.0, bn.eps)


def test_bireal_conv_adds_the_identity_shortcut():
    """Catches a dropped Bi-Real shortcut: ``hardtanh(bn(conv(sign x, sign
    w)) + x)``, rebuilt with functional ops."""
    block = _bireal(4, 4, 1)
    x = torch.randn(2, 4, 6, 6)
    conv = F.conv2d(signs(x), signs(block.conv.weight), padding=1)
    expected = F.hardtanh(_bn(conv, block.norm) + x)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)


def test_bireal_conv_downsample_shortcut_is_avgpool_conv_bn():
    """Stride 2 and a wider output: the shortcut is a real 2x2 average pool,
    a 1x1 conv and BN (IR-Net / Bi-Real's real downsample)."""
    block = _bireal(4, 8, 2)
    x = torch.randn(2, 4, 6, 6)
    main = _bn(F.conv2d(signs(x), signs(block.conv.weight), stride=2,
                        padding=1), block.norm)
    pool, conv1x1, bn = block.shortcut
    short = _bn(F.conv2d(F.avg_pool2d(x, 2), conv1x1.weight), bn)
    with torch.no_grad():
        torch.testing.assert_close(block(x), F.hardtanh(main + short))


def test_bireal_shortcut_kind_follows_stride_width_and_downsample():
    from mmbnn.models.layers.bireal import BiRealConv, ZeroPadShortcut
    args = (dict(type='BinaryConv2d'), dict(type='BN'), dict(type='Hardtanh'))
    assert isinstance(BiRealConv(8, 8, 1, *args).shortcut, nn.Identity)
    for stride, out in ((2, 8), (1, 16), (2, 16)):  # stride or width change
        pool, conv, norm = BiRealConv(8, out, stride, *args).shortcut
        assert isinstance(pool, nn.AvgPool2d if stride == 2 else nn.Identity)
        assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (
            8, out, (1, 1))
        assert isinstance(norm, nn.BatchNorm2d) and norm.num_features == out
        zero = BiRealConv(8, out, stride, *args, downsample='zero_pad').shortcut
        assert isinstance(zero, ZeroPadShortcut)
        assert (zero.stride, zero.extra_channels) == (stride, out - 8)
    from mmbnn.models.layers.bireal import BiRealBasicBlock
    first, second = BiRealBasicBlock(8, 16, 2, *args)  # 'conv' by default
    assert isinstance(first.shortcut[1], nn.Conv2d)
    assert isinstance(second.shortcut, nn.Identity)
    with pytest.raises(ValueError) as e:
        BiRealConv(16, 8, 1, *args, downsample='zero_pad')
    assert e.value.args[0] == 'a zero-padded shortcut cannot reduce width'
    with pytest.raises(ValueError) as e:
        BiRealConv(8, 16, 2, *args, downsample='pool')
    assert e.value.args[0] == "downsample must be 'conv' or 'zero_pad', got 'pool'"


def test_shortcut_module_without_activation_or_norm_by_hand():
    """``activate=False`` returns the sum before the activation; ``norm=False``
    skips the norm but keeps the shortcut."""
    net = SSDVGGBN(widen_factor=0.125, shortcuts=True).eval()
    layer = net.layers['conv1_2']
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        pre = layer.bn(layer.conv(x)) + x
        torch.testing.assert_close(layer(x, activate=False), pre)
        torch.testing.assert_close(layer(x), torch.relu(pre))
        torch.testing.assert_close(layer(x, norm=False),
                                   torch.relu(layer.conv(x) + x))
