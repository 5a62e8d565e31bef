"""mmbnn/models/backbones/vgg_small.py: layout and forward by hand."""
import pytest
import torch
import torch.nn.functional as F

from mmbnn.models.backbones import VGGSmall
from mmbnn.models.layers import BinaryConv2d


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
