"""ReActNet's block (docs/methods.md 3.3)."""
from typing import Dict

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer

from .activations import RPReLU, RSign


class ReActBlock(nn.Module):
    """RSign -> binary 3x3 conv (stride s) -> BN -> + shortcut (AvgPool 2x2
    when s = 2) -> RPReLU, then RSign -> binary 1x1 conv -> BN -> + shortcut
    -> RPReLU. When the block doubles its channels, two parallel 1x1 convs
    each keep the width and their outputs (each plus the shortcut) are
    concatenated."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 conv_cfg: Dict, norm_cfg: Dict):
        super().__init__()
        if out_channels not in (in_channels, 2 * in_channels):
            raise ValueError(f'a ReActNet block keeps or doubles its channels, '
                             f'got {in_channels} -> {out_channels}')
        self.rsign1 = RSign(in_channels)
        self.conv3x3 = build_conv_layer(conv_cfg, in_channels, in_channels, 3,
                                        stride=stride, padding=1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.pool = nn.AvgPool2d(2, 2) if stride == 2 else nn.Identity()
        self.rprelu1 = RPReLU(in_channels)
        self.rsign2 = RSign(in_channels)
        n_pointwise = out_channels // in_channels
        self.pointwise = nn.ModuleList(
            build_conv_layer(conv_cfg, in_channels, in_channels, 1, bias=False)
            for _ in range(n_pointwise))
        self.bn2 = nn.ModuleList(build_norm_layer(norm_cfg, in_channels)[1]
                                 for _ in range(n_pointwise))
        self.rprelu2 = RPReLU(out_channels)

    def forward(self, x):
        out = self.rprelu1(self.bn1(self.conv3x3(self.rsign1(x))) + self.pool(x))
        signed = self.rsign2(out)
        return self.rprelu2(torch.cat(
            [bn(conv(signed)) + out for conv, bn in zip(self.pointwise, self.bn2)],
            dim=1))
