"""VGG-Small, the CIFAR-10 VGG of the BNN papers (LQ-Nets, IR-Net)."""
from typing import Dict, Optional

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule

from mmbnn.models.layers.pooling import MaxPool2d
from mmbnn.models.utils import scaled_width
from mmbnn.registry import MODELS

# (out_channels, max-pool after the conv) of the five convs after the stem.
VGG_SMALL = ((128, True), (256, False), (256, True), (512, False), (512, True))


@MODELS.register_module()
class VGGSmall(BaseModule):
    """A real 3x3 conv 3->128, then 128-128, 128-256, 256-256, 256-512 and
    512-512 3x3 convs built from ``conv_cfg`` (binary in the BNN configs),
    each followed by (a 2x2 max-pool on every second conv,) a norm and an
    activation (docs/methods.md 1.4). Returns the last feature map (stride 8), for
    ``GlobalAveragePooling`` or flattening by the classifier's neck.

    Args:
        widen_factor (float): Channel multiplier (1.0 is VGG-Small).
        conv_cfg (dict, optional): Conv type of all convs but the stem.
        norm_cfg, act_cfg (dict): Norm and activation after each conv
            (IR-Net: BN, Hardtanh).
    """

    def __init__(self, widen_factor: float = 1.0,
                 conv_cfg: Optional[Dict] = None,
                 norm_cfg: Dict = dict(type='BN'),
                 act_cfg: Dict = dict(type='Hardtanh'),
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', val=1, layer='_BatchNorm'))):
        # A tuple default is not a list to mmengine; a dict stays a dict.
        super().__init__(init_cfg=list(init_cfg) if isinstance(init_cfg, tuple)
                         else init_cfg)
        if widen_factor <= 0:
            raise ValueError(f'widen_factor must be > 0, got {widen_factor}')

        def block(cfg, in_ch, out_ch, pool):
            return nn.Sequential(
                build_conv_layer(cfg, in_ch, out_ch, 3, padding=1, bias=False),
                MaxPool2d(2, 2) if pool else nn.Identity(),
                build_norm_layer(norm_cfg, out_ch)[1],
                build_activation_layer(act_cfg))

        width = [scaled_width(c, widen_factor) for c, _ in VGG_SMALL]
        self.layers = nn.Sequential(block(None, 3, width[0], False))
        for i, (out_ch, (_, pool)) in enumerate(zip(width, VGG_SMALL)):
            in_ch = width[max(i - 1, 0)]
            self.layers.append(block(conv_cfg, in_ch, out_ch, pool))
        self.out_channels = width[-1]

    def forward(self, x):
        return (self.layers(x), )
