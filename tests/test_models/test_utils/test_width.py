"""mmbnn/models/utils/width.py: the narrowest widths."""
import torch.nn as nn

from mmbnn.models.backbones import VGGSmall


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
