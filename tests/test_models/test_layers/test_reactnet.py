"""mmbnn/models/layers/reactnet.py: ReActNet's block, by hand."""
import pytest
import torch
import torch.nn.functional as F


def test_reactnet_block_forward_by_hand():
    """A doubling, strided block rebuilt from functional ops (real convs):
    u = rprelu1(bn1(conv3x3(x + b1)) + avgpool(x)); out = rprelu2(cat_i
    (bn2_i(conv1x1_i(u + b2)) + u))."""
    from mmbnn.models.backbones.reactnet import ReActNetA
    from mmbnn.models.layers.reactnet import ReActBlock

    def rprelu(act, v):
        c = (1, -1, 1, 1)
        u = v - act.gamma.view(c)
        return torch.where(u > 0, u, act.prelu.weight.view(c) * u) + \
            act.zeta.view(c)

    def bn(layer, v):
        return F.batch_norm(v, layer.running_mean, layer.running_var,
                            layer.weight, layer.bias, False, 0.0, layer.eps)

    torch.manual_seed(0)
    block = ReActBlock(4, 8, 2, None, dict(type='BN')).eval()
    for p in block.parameters():
        p.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 4, 6, 6)
    shift = lambda v, rs: v + rs.bias.view(1, -1, 1, 1)  # noqa: E731
    u = rprelu(block.rprelu1, bn(block.bn1, F.conv2d(
        shift(x, block.rsign1), block.conv3x3.weight, stride=2, padding=1))
        + F.avg_pool2d(x, 2))
    s = shift(u, block.rsign2)
    expected = rprelu(block.rprelu2, torch.cat(
        [bn(b, F.conv2d(s, c.weight)) + u
         for c, b in zip(block.pointwise, block.bn2)], 1))
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)
    with pytest.raises(ValueError, match='keeps or doubles its channels, '
                       'got 4 -> 12'):
        ReActBlock(4, 12, 1, None, dict(type='BN'))
    model = ReActNetA(widen_factor=0.25)
    assert model.out_channels == [16, 32, 64, 128, 256]
    with pytest.raises(ValueError, match='widen_factor must be > 0, got 0'):
        ReActNetA(widen_factor=0)
