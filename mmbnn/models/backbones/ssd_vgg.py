"""VGG16 backbone for SSD with a norm layer after every conv."""
from typing import Dict, Optional, Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule

from mmbnn.models.layers.bireal import ShortcutConvModule
from mmbnn.models.layers.pooling import MaxPool2d
from mmbnn.models.utils import scaled_width
from mmbnn.registry import MODELS

# (out_channels, convs) per stage of VGG16; a 2x2 max-pool precedes stages 2-5.
VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


@MODELS.register_module()
class SSDVGGBN(BaseModule):
    """SSD's VGG16 (conv1_1 ... conv5_3, pool5, dilated fc6, fc7) with a norm
    layer after each conv and a width multiplier.

    BiDet restructures VGG16 this way because a binary VGG without BN does not
    train; the FP model from the same class is the teacher and the baseline.
    Returns the features named in ``out_features``: ``conv4_3`` (stride 8,
    L2-normalised by ``SSDNeck``) and ``fc7`` (stride 16) for SSD300.

    Args:
        widen_factor (float): channel multiplier (1.0 is VGG16).
        conv_cfg (dict, optional): conv type of every layer but ``conv1_1``,
            which stays a real-valued conv (the stem, docs/methods.md 1.4).
        norm_cfg (dict): norm after each conv.
        act_cfg (dict): activation after each norm.
        fc6_dilation (int): dilation of the 3x3 ``fc6`` conv (6 in SSD300);
            the padding equals it, so the spatial size is kept.
        shortcuts (bool): add a Bi-Real shortcut (identity, before the
            activation) around every conv whose input and output shapes
            match [choice: off in BiDet's VGG; it lets a small binary VGG
            train in a short schedule].
        duplicate_shortcuts (bool): with ``shortcuts``, also a shortcut
            around each conv that widens its input by a whole factor (every
            first conv of a stage, fc6): the input repeated along channels,
            ReActNet's duplication [choice: no parameters]. Without it the
            real-valued path ends at each such conv, and all that passes it
            is the sign bits of its input.
        pool_norm (bool): a norm layer (``norm_cfg``) after each max-pool
            [choice: off in BiDet's VGG]. A max-pool shifts its input up (the
            largest of four zero-centred values is positive 15 times in 16),
            so a sign after it reads almost all +1 and the binary conv behind
            it sees next to no information (fc6 behind pool5's 3x3 window:
            99% of its inputs past 1); the norm centres the sign's input
            again, as the conv -> pool -> BN order of BinaryNet's VGG does.
        out_features (Sequence[str]): names of the returned features, among
            ``conv{stage}_{index}``, ``fc6`` and ``fc7``.
    """

    def __init__(self,
                 widen_factor: float = 1.0,
                 conv_cfg: Optional[Dict] = None,
                 norm_cfg: Dict = dict(type='BN'),
                 act_cfg: Dict = dict(type='ReLU'),
                 fc6_dilation: int = 6,
                 shortcuts: bool = False,
                 duplicate_shortcuts: bool = False,
                 pool_norm: bool = False,
                 out_features: Sequence[str] = ('conv4_3', 'fc7'),
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', val=1,
                                layer=['_BatchNorm', 'GroupNorm']))):
        # A tuple default is not a list to mmengine; a dict stays a dict.
        super().__init__(init_cfg=list(init_cfg) if isinstance(init_cfg, tuple)
                         else init_cfg)
        if widen_factor <= 0:
            raise ValueError(f'widen_factor must be > 0, got {widen_factor}')
        if duplicate_shortcuts and not shortcuts:
            raise ValueError('duplicate_shortcuts=True adds shortcuts around '
                             'the widening convs and needs shortcuts=True')
        self.layers = nn.ModuleDict()

        def width(channels):
            return scaled_width(channels, widen_factor)

        def add(name, in_ch, out_ch, kernel, cfg, **kwargs):
            residual = shortcuts and name != 'conv1_1' and (
                in_ch == out_ch or duplicate_shortcuts and out_ch % in_ch == 0)
            module = ShortcutConvModule if residual else ConvModule
            self.layers[name] = module(in_ch, out_ch, kernel, conv_cfg=cfg,
                                       norm_cfg=norm_cfg, act_cfg=act_cfg,
                                       **kwargs)
            return out_ch

        def pool(name, channels, *args, **kwargs):
            layer = MaxPool2d(*args, **kwargs)
            self.layers[name] = nn.Sequential(
                layer, build_norm_layer(norm_cfg, channels)[1]) \
                if pool_norm else layer

        in_ch = 3
        for stage, (channels, convs) in enumerate(VGG16_STAGES, start=1):
            if stage > 1:
                # ceil_mode keeps SSD300's 38x38 conv4_3 map (300 -> 150 -> 75 -> 38).
                pool(f'pool{stage - 1}', in_ch, 2, 2, ceil_mode=True)
            for index in range(1, convs + 1):
                stem = stage == 1 and index == 1
                in_ch = add(f'conv{stage}_{index}', in_ch, width(channels), 3,
                            None if stem else conv_cfg, padding=1)
        pool('pool5', in_ch, 3, 1, padding=1)
        in_ch = add('fc6', in_ch, width(1024), 3, conv_cfg,
                    padding=fc6_dilation, dilation=fc6_dilation)
        add('fc7', in_ch, width(1024), 1, conv_cfg)

        unknown = sorted(set(out_features) - set(self.layers))
        if unknown or not out_features:
            raise ValueError(f'out_features {unknown or out_features} not among '
                             f'{[n for n in self.layers if "pool" not in n]}')
        self.out_features = tuple(out_features)

    def forward(self, x):
        outs = {}
        for name, layer in self.layers.items():
            x = layer(x)
            if name in self.out_features:
                outs[name] = x
        return tuple(outs[name] for name in self.out_features)
