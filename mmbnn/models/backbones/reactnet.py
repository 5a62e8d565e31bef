"""ReActNet-A, the MobileNetV1-shaped BNN of ReActNet and AdamBNN
(docs/methods.md 3.3)."""
from typing import Dict, Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule

from mmbnn.models.layers.reactnet import ReActBlock
from mmbnn.models.utils import scaled_width
from mmbnn.registry import MODELS

# (out_channels / stem_channels, stride) of the 13 blocks after the 32-channel
# stem: MobileNetV1's widths 64, 128x2, 256x2, 512x6, 1024x2. The first
# doubling (32 -> 64) keeps the resolution, every later one halves it.
REACTNET_A = ((2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2), (16, 1), (16, 1),
              (16, 1), (16, 1), (16, 1), (32, 2), (32, 1))
# Index of the last block of each output stage (strides 2, 4, 8, 16, 32).
STAGE_ENDS = (0, 2, 4, 10, 12)
REACTNET_CONV = dict(type='BinaryConv2d', weight_binarizer='xnor',
                     weight_estimator='ste', activation_estimator='approx')


@MODELS.register_module()
class ReActNetA(BaseModule):
    """ReActNet-A: a real 3x3/2 stem conv + BN (32 channels), 13 ReAct blocks
    built from ``conv_cfg`` (binary: XNOR-scaled weights with clip-STE
    backward, sign activations with ApproxSign backward), MobileNetV1's widths
    with full (not depthwise) 3x3 convs.

    Args:
        widen_factor (float): Channel multiplier (1.0: 32 ... 1024 channels).
        out_indices (Sequence[int]): Stages whose outputs are returned: 0-4
            at strides 2, 4, 8, 16 and 32 (64 ... 1024 channels); the
            classifier uses ``(4, )``, a detector e.g. ``(3, 4)``.
        conv_cfg (dict): Conv type of the blocks' 3x3 and 1x1 convs.
        norm_cfg (dict): Norm after every conv.
    """

    def __init__(self, widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (4, ),
                 conv_cfg: Optional[Dict] = REACTNET_CONV,
                 norm_cfg: Dict = dict(type='BN'),
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', val=1, layer='_BatchNorm'))):
        super().__init__(init_cfg=list(init_cfg) if isinstance(init_cfg, tuple)
                         else init_cfg)
        if widen_factor <= 0:
            raise ValueError(f'widen_factor must be > 0, got {widen_factor}')
        bad = [i for i in out_indices if not 0 <= i < len(STAGE_ENDS)]
        if bad or not out_indices:
            raise ValueError(f'out_indices must be a non-empty subset of 0-4, '
                             f'got {tuple(out_indices)}')
        self.out_indices = tuple(out_indices)
        stem = scaled_width(32, widen_factor, minimum=1)
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 3, stride=2, padding=1, bias=False),
            build_norm_layer(norm_cfg, stem)[1])
        self.blocks = nn.ModuleList()
        channels = stem
        for ratio, stride in REACTNET_A:
            self.blocks.append(ReActBlock(channels, stem * ratio, stride,
                                          conv_cfg, norm_cfg))
            channels = stem * ratio
        self.out_channels = [stem * REACTNET_A[i][0] for i in STAGE_ENDS]

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in STAGE_ENDS and STAGE_ENDS.index(i) in self.out_indices:
                outs.append(x)
        return tuple(outs)
