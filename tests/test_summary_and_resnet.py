import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import ROOT, tool
from mmbnn.analysis import summarize
from mmbnn.models.backbones import BiRealResNet, VGGSmall
from mmbnn.models.layers import BinaryConv2d


def test_summary_counts_by_hand():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),                                 # 8x8 -> 6x6, real
        BinaryConv2d(4, 8, 3),                              # 6x6 -> 4x4, binary
        BinaryConv2d(8, 8, 1, binarize='activations'),      # real weights
        nn.Flatten(), nn.Linear(128, 2))
    s = summarize(model, torch.randn(1, 3, 8, 8))
    assert s.total('binary_params') == 8 * 4 * 9
    assert s.total('fp_params') == (4 * 27 + 4) + 8 + (64 + 8) + (256 + 2)
    assert s.total('binary_macs') == 8 * 4 * 4 * 36
    assert s.total('fp_macs') == 4 * 6 * 6 * 27 + 8 * 4 * 4 * 8 + 2 * 128
    n_bin, n_fp = 288, 450
    assert s.compression == pytest.approx((n_bin + n_fp) * 4 / (n_bin / 8 + n_fp * 4))
    assert s.binary_mac_fraction == pytest.approx(4608 / (4608 + 3888 + 1024 + 256))


def test_summary_tool_on_the_binary_ssd300_config():
    result = tool('analysis_tools/bnn_summary.py', f'{ROOT}/configs/bnn_ssd300_voc.py')
    out = result.stdout
    assert 'backbone.layers.conv1_1.conv' in out  # the real stem is listed
    compression = float(out.split('compression vs all-float32: ')[1].split('x')[0])
    fraction = float(out.split('binary MACs: ')[1].split('%')[0])
    # Real stem, BN and head keep the compression well below 32x.
    assert 3 < compression < 32 and 80 < fraction < 100


@pytest.mark.parametrize('depth,blocks', [(18, 2 + 2 + 2 + 2), (34, 3 + 4 + 6 + 3)])
def test_bireal_resnet_shapes_and_binary_convs(depth, blocks):
    net = BiRealResNet(depth=depth, base_channels=16).eval()
    outs = net(torch.randn(1, 3, 67, 67))  # odd size: shortcuts must match
    assert [o.shape[1] for o in outs] == [16, 32, 64, 128]
    assert [o.shape[-1] for o in outs] == [17, 9, 5, 3]
    binary = [m for m in net.modules() if isinstance(m, BinaryConv2d)]
    assert len(binary) == 2 * blocks
    assert all(m.binarize == 'both' and m.weight_binarizer == 'imb' for m in binary)
    # Stem and the 1x1 downsample shortcuts stay real.
    assert type(net.stem[0]) is nn.Conv2d
    assert sum(type(m) is nn.Conv2d for m in net.modules()) == 1 + 3


def test_bireal_resnet_fp_mode_out_indices_and_freezing():
    net = BiRealResNet(base_channels=8, out_indices=(1, 3), frozen_stages=1,
                       norm_eval=True,
                       conv_cfg=dict(type='BinaryConv2d', binarize='none'))
    outs = net(torch.randn(2, 3, 64, 64))
    assert len(outs) == 2 and net.out_channels == [16, 64]
    assert not any(p.requires_grad for p in net.stem.parameters())
    assert not any(p.requires_grad for p in net.stages[0].parameters())
    assert all(p.requires_grad for p in net.stages[1].parameters())
    net.train()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) > 0
    assert not any(m.training for m in bns)
    # Without norm_eval (the default) training mode reaches every BN, and
    # ResNet-18's default width is 64.
    plain = BiRealResNet().train()
    assert plain.out_channels[0] == 64 and all(
        m.training for m in plain.modules() if isinstance(m, nn.BatchNorm2d))
    with pytest.raises(ValueError, match='depth'):
        BiRealResNet(depth=50)
    with pytest.raises(ValueError, match='out_indices'):
        BiRealResNet(out_indices=(4,))


# ------------------------------------------------------------------ VGG-Small

def test_vgg_small_layout_by_hand():
    net = VGGSmall(widen_factor=0.25, conv_cfg=dict(type='BinaryConv2d'))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    # Real stem 3->32, then 32-32, 32-64, 64-64, 64-128, 128-128 (x0.25).
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (3, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128)]
    assert [isinstance(c, BinaryConv2d) for c in convs] == [False] + [True] * 5
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1)
               and c.bias is None for c in convs)
    assert net.out_channels == 128
    assert VGGSmall().out_channels == 512
    with pytest.raises(ValueError, match='widen_factor'):
        VGGSmall(widen_factor=0)


def test_vgg_small_forward_by_hand():
    """conv -> (max-pool on the 2nd, 4th and 6th conv) -> BN -> Hardtanh,
    rebuilt with functional ops (real convs)."""
    torch.manual_seed(0)
    net = VGGSmall(widen_factor=0.0625).eval()
    for bn in [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]:
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 16, 16)
    out = x
    for i, block in enumerate(net.layers):
        conv, bn = block[0], block[2]
        out = F.conv2d(out, conv.weight, padding=1)
        if i in (1, 3, 5):
            out = F.max_pool2d(out, 2)
        out = F.batch_norm(out, bn.running_mean, bn.running_var, bn.weight,
                           bn.bias, False, 0.0, bn.eps)
        out = F.hardtanh(out)
    with torch.no_grad():
        got, = net(x)
    assert got.shape == (2, 32, 2, 2)  # stride 8
    torch.testing.assert_close(got, out)


# ------------------------------------------- every backbone honours init_cfg

def _small_backbone(name, **kwargs):
    from mmbnn.models import backbones
    binary = dict(conv_cfg=dict(type='BinaryConv2d'))
    small = dict(SSDVGGBN=dict(widen_factor=0.0625, **binary),
                 BiRealResNet=dict(depth=20, base_channels=8, stem='cifar',
                                   out_indices=(2, )),
                 VGGSmall=dict(widen_factor=0.0625, **binary),
                 ReActNetA=dict(widen_factor=0.0625))[name]
    return getattr(backbones, name)(**small, **kwargs)


@pytest.mark.parametrize('name', ['SSDVGGBN', 'BiRealResNet', 'VGGSmall',
                                  'ReActNetA'])
@pytest.mark.parametrize('form', ['dict', 'tuple', 'list'])
def test_backbones_apply_the_init_cfg_they_are_given(name, form):
    """A dict, a tuple or a list of initializers all reach mmengine: convs
    (binary ones too) and norms get exactly the constants asked for."""
    conv = dict(type='Constant', val=0.5, layer='Conv2d')
    norm = dict(type='Constant', val=0.25, bias=0.125, layer='_BatchNorm')
    init_cfg = dict(dict=conv, tuple=(conv, norm), list=[conv, norm])[form]
    net = _small_backbone(name, init_cfg=init_cfg)
    net.init_weights()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert any(isinstance(m, BinaryConv2d) for m in convs) and norms
    assert all(torch.all(m.weight == 0.5) for m in convs)
    weight, bias = (1.0, 0.0) if form == 'dict' else (0.25, 0.125)
    assert all(torch.all(m.weight == weight) and torch.all(m.bias == bias)
               for m in norms)


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


def test_bireal_resnet_argument_bounds_in_full():
    BiRealResNet(depth=20, base_channels=8, stem='cifar', out_indices=(2, ),
                 frozen_stages=3)  # every stage frozen: allowed
    for frozen in (-2, 4):
        with pytest.raises(ValueError) as e:
            BiRealResNet(depth=20, base_channels=8, stem='cifar',
                         out_indices=(2, ), frozen_stages=frozen)
        assert e.value.args[0] == f'frozen_stages must be in [-1, 3], got {frozen}'
    for kwargs, message in (
            (dict(depth=50), 'depth 50 not in [18, 20, 34]'),
            (dict(out_indices=(4, )), 'out_indices must be within (0, 1, 2, 3), '
             'got (4,)'),
            (dict(out_indices=()), 'out_indices must be within (0, 1, 2, 3), '
             'got ()'),
            (dict(stem='tiny'), "stem must be 'imagenet' or 'cifar', got 'tiny'")):
        with pytest.raises(ValueError) as e:
            BiRealResNet(base_channels=8, **kwargs)
        assert e.value.args[0] == message


def test_narrowest_widths_are_the_documented_minimums():
    """VGG-Small keeps at least 8 channels per conv; ReActNet-A's stem at
    least 1."""
    from mmbnn.models.backbones import ReActNetA
    tiny = VGGSmall(widen_factor=0.001, conv_cfg=dict(type='BinaryConv2d'))
    assert {m.out_channels for m in tiny.modules()
            if isinstance(m, nn.Conv2d)} == {8}
    assert tiny.out_channels == 8
    stem = ReActNetA(widen_factor=0.001).stem[0]
    assert stem.out_channels == 1


def test_bireal_stems_by_hand_and_frozen_stem_only():
    """ImageNet stem: real 7x7 stride-2 conv, BN, 3x3 stride-2 max pool
    (224 -> 56); CIFAR stem: real 3x3 stride-1 conv and BN (32 -> 32).
    ``frozen_stages=0`` freezes the stem alone."""
    conv, norm, pool = BiRealResNet(base_channels=8).stem
    assert type(conv) is nn.Conv2d and conv.bias is None
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
            conv.padding) == (3, 8, (7, 7), (2, 2), (3, 3))
    assert isinstance(norm, nn.BatchNorm2d) and norm.num_features == 8
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 2, 1)
    assert BiRealResNet(base_channels=8).stem(torch.randn(1, 3, 224, 224)).shape \
        == (1, 8, 56, 56)
    net = BiRealResNet(depth=20, base_channels=8, stem='cifar',
                       out_indices=(2, ), frozen_stages=0)
    conv, norm = net.stem
    assert type(conv) is nn.Conv2d and conv.bias is None
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (1, 1))
    assert isinstance(norm, nn.BatchNorm2d) and norm.num_features == 8
    assert net.stem(torch.randn(1, 3, 32, 32)).shape == (1, 8, 32, 32)
    assert not any(p.requires_grad for p in net.stem.parameters())
    assert all(p.requires_grad for p in net.stages.parameters())
