"""mmbnn/models/backbones/bireal_resnet.py: shapes, binary convs, stems,
freezing and argument bounds."""
import pytest
import torch
import torch.nn as nn

from mmbnn.models.backbones import BiRealResNet
from mmbnn.models.layers import BinaryConv2d


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
