"""mmbnn/models/backbones/ssd_vgg.py: SSD300's VGG16-BN, its dilation,
shortcuts and layer order."""
import pytest
import torch
import torch.nn as nn

from mmbnn.models.backbones import SSDVGGBN


def test_ssd300_feature_shapes_and_widths():
    net = SSDVGGBN(widen_factor=0.25).eval()
    conv4_3, fc7 = net(torch.rand(1, 3, 300, 300))
    # SSD300: 300 -> 150 -> 75 -> 38 (ceil mode) -> 19.
    assert conv4_3.shape == (1, 128, 38, 38)
    assert fc7.shape == (1, 256, 19, 19)
    assert net.layers['conv1_1'].conv.out_channels == 16
    convs = [n for n in net.layers if not n.startswith('pool')]
    assert len(convs) == 15  # 13 VGG16 convs + fc6 + fc7
    assert all(hasattr(net.layers[n], 'bn') for n in convs)


def test_fc6_dilation_really_applies():
    net = SSDVGGBN(widen_factor=0.125, fc6_dilation=6).eval()
    fc6 = net.layers['fc6']
    x = torch.zeros(1, fc6.conv.in_channels, 19, 19)
    base = fc6.conv(x)[0, :, 9, 9]
    # A 3x3 kernel with dilation 6 sees offsets -6, 0, +6 only.
    for offset, seen in ((6, True), (3, False), (1, False)):
        y = x.clone()
        y[0, :, 9, 9 + offset] = 1.0
        changed = not torch.allclose(fc6.conv(y)[0, :, 9, 9], base)
        assert changed == seen, offset


def test_bad_arguments():
    with pytest.raises(ValueError, match='out_features'):
        SSDVGGBN(out_features=('conv9_9',))
    with pytest.raises(ValueError, match='widen_factor'):
        SSDVGGBN(widen_factor=0)
    with pytest.raises(ValueError, match='needs shortcuts=True'):
        SSDVGGBN(duplicate_shortcuts=True)


def test_shortcuts_add_identity_where_shapes_match_and_keep_keys():
    plain = SSDVGGBN(widen_factor=0.125).eval()
    short = SSDVGGBN(widen_factor=0.125, shortcuts=True).eval()
    assert plain.state_dict().keys() == short.state_dict().keys()
    short.load_state_dict(plain.state_dict())
    layer = short.layers['conv1_2']  # 8 -> 8 channels: has a shortcut
    x = torch.randn(1, 8, 10, 10)
    ref = plain.layers['conv1_2']
    expected = torch.relu(ref.bn(ref.conv(x)) + x)
    torch.testing.assert_close(layer(x), expected)
    # conv1_1 (3 -> 8) and conv2_1 (8 -> 16) change shape: no shortcut.
    y = torch.randn(1, 3, 10, 10)
    torch.testing.assert_close(short.layers['conv1_1'](y), plain.layers['conv1_1'](y))
    z = torch.randn(1, 8, 10, 10)
    torch.testing.assert_close(short.layers['conv2_1'](z), plain.layers['conv2_1'](z))


def test_layer_order_binary_layers_and_shortcuts_by_hand():
    """The VGG16 layout written out: pools between stages, a real conv1_1,
    every other conv (fc6 and fc7 included) of conv_cfg's type, shortcuts
    exactly where input and output shapes match (never on conv1_1)."""
    from mmcv.cnn import ConvModule

    from mmbnn.models.layers import BinaryConv2d
    from mmbnn.models.layers.bireal import ShortcutConvModule
    net = SSDVGGBN(widen_factor=0.125, shortcuts=True,
                   conv_cfg=dict(type='BinaryConv2d'))
    assert list(net.layers) == [
        'conv1_1', 'conv1_2', 'pool1', 'conv2_1', 'conv2_2', 'pool2',
        'conv3_1', 'conv3_2', 'conv3_3', 'pool3', 'conv4_1', 'conv4_2',
        'conv4_3', 'pool4', 'conv5_1', 'conv5_2', 'conv5_3', 'pool5', 'fc6',
        'fc7']
    convs = [n for n in net.layers if not n.startswith('pool')]
    binary = {n for n in convs if isinstance(net.layers[n].conv, BinaryConv2d)}
    assert binary == set(convs) - {'conv1_1'}
    # Widths 8, 16, 32, 64, 64, fc6/fc7 128: shortcuts where in == out.
    with_shortcut = {n for n in convs
                     if isinstance(net.layers[n], ShortcutConvModule)}
    assert with_shortcut == {'conv1_2', 'conv2_2', 'conv3_2', 'conv3_3',
                             'conv4_2', 'conv4_3', 'conv5_1', 'conv5_2',
                             'conv5_3', 'fc7'}
    assert all(type(net.layers[n]) is ConvModule
               for n in set(convs) - with_shortcut)
    assert SSDVGGBN().layers['conv1_1'].conv.out_channels == 64  # VGG16 width


def test_ssd_vgg_defaults_are_ssd300s():
    """SSDVGGBN() is SSD300's VGG16: full width, fc6 dilated by 6, ReLU, no
    shortcuts; act_cfg reaches every conv module."""
    from mmcv.cnn import ConvModule

    from mmbnn.models.backbones import SSDVGGBN
    from mmbnn.models.layers.bireal import ShortcutConvModule
    net = SSDVGGBN()
    fc6 = net.layers['fc6'].conv
    assert (fc6.dilation, fc6.padding, fc6.out_channels) == ((6, 6), (6, 6), 1024)
    assert net.layers['fc7'].conv.out_channels == 1024
    assert net.layers['fc7'].conv.kernel_size == (1, 1)
    with pytest.raises(ValueError) as e:
        SSDVGGBN(widen_factor=0.0625, out_features=('conv9_9', 'fc7'))
    names = [f'conv{s}_{i}' for s, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
             for i in range(1, n + 1)] + ['fc6', 'fc7']
    assert e.value.args[0] == f"out_features ['conv9_9'] not among {names}"
    assert net.layers['conv5_3'].conv.out_channels == 512
    convs = [m for m in net.layers.values() if isinstance(m, ConvModule)]
    assert len(convs) == 15
    assert not any(isinstance(m, ShortcutConvModule) for m in convs)
    assert all(isinstance(m.activate, nn.ReLU) for m in convs)
    assert all(isinstance(m.activate, nn.Hardtanh) for m in SSDVGGBN(
        widen_factor=0.0625, act_cfg=dict(type='Hardtanh')).layers.values()
        if isinstance(m, ConvModule))
    assert net.out_features == ('conv4_3', 'fc7')


def test_pool_norm_centres_what_the_next_sign_reads():
    """The largest of k independent zero-centred values is positive with
    probability 1 - 2**-k: behind pool1-4 (2x2) a sign reads +1 for 15/16 of
    its inputs, behind pool5 (3x3, stride 1) for 511/512 of the interior.
    ``pool_norm`` puts a BN (in training mode: batch statistics) after each
    pool, and the sign reads +1 for about half of its inputs again."""
    torch.manual_seed(0)
    plain = SSDVGGBN(widen_factor=0.125)
    normed = SSDVGGBN(widen_factor=0.125, pool_norm=True)
    for name, k, channels in (('pool1', 4, 8), ('pool5', 9, 64)):
        x = torch.randn(64, channels, 16, 16)
        y = plain.layers[name](x)
        interior = y if k == 4 else y[:, :, 1:-1, 1:-1]
        assert abs((interior >= 0).float().mean() - (1 - 2.0**-k)) < 2e-3
        y = normed.layers[name](x)
        # The BN centres the mean; a maximum is skewed right, so a little
        # under half of the values lie above it (47.8% behind pool5).
        assert 0.45 < (y >= 0).float().mean() <= 0.5
    pool, norm = normed.layers['pool2']
    assert isinstance(pool, nn.MaxPool2d) and pool.ceil_mode
    assert isinstance(norm, nn.BatchNorm2d) and norm.num_features == 16
    assert [normed.layers[f'pool{i}'][1].num_features
            for i in range(1, 6)] == [8, 16, 32, 64, 64]


def test_duplicate_shortcuts_repeat_the_input_around_widening_convs():
    """Widths 8, 16, 32, 64, 64, fc6/fc7 128: conv2_1, conv3_1, conv4_1 and
    fc6 double their input, so they get a shortcut too; with the conv's
    weights and the BN's shift at zero a block returns its input twice over
    along channels (then the activation). A width that is no multiple of the
    input's cannot be repeated."""
    from mmbnn.models.layers.bireal import ShortcutConvModule
    net = SSDVGGBN(widen_factor=0.125, shortcuts=True,
                   duplicate_shortcuts=True).eval()
    convs = [n for n in net.layers if not n.startswith('pool')]
    assert {n for n in convs if isinstance(net.layers[n], ShortcutConvModule)
            } == set(convs) - {'conv1_1'}
    assert [net.layers[n].repeats for n in ('conv1_2', 'conv2_1', 'fc6',
                                             'fc7')] == [1, 2, 2, 1]
    layer = net.layers['conv3_1']
    nn.init.zeros_(layer.conv.weight)
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(layer(x, activate=False),
                                   torch.cat([x, x], dim=1))
        torch.testing.assert_close(layer(x), torch.relu(torch.cat([x, x], 1)))
    # Without duplicate_shortcuts the widening convs stay plain.
    plain = SSDVGGBN(widen_factor=0.125, shortcuts=True)
    assert not isinstance(plain.layers['conv2_1'], ShortcutConvModule)
    with pytest.raises(ValueError) as e:
        ShortcutConvModule(16, 24, 3, padding=1)
    assert e.value.args[0] == ('a shortcut repeats the input: out_channels '
                               '(24) must be a multiple of in_channels (16)')
