"""IR-Net / Bi-Real Net style binary ResNet (docs/methods.md 1.4)."""
from typing import Dict, Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from mmbnn.models.layers.bireal import BiRealBasicBlock
from mmbnn.models.layers.pooling import MaxPool2d
from mmbnn.registry import MODELS

BINARY_CONV = dict(type='BinaryConv2d', binarize='both', weight_binarizer='imb',
                   weight_estimator='dte', activation_estimator='dte')


@MODELS.register_module()
class BiRealResNet(BaseModule):
    """Binary ResNet-18/34 for ImageNet-size inputs and FPN detectors.

    Real 7x7/2 stem conv + norm + 3x3/2 max-pool, then BasicBlocks whose 3x3
    convs are built from ``conv_cfg`` (binary by default: IMB weights, DTE),
    each wrapped by a Bi-Real shortcut and followed by Hardtanh (a ReLU would
    make every following sign +1). The downsampling shortcuts stay real. With
    ``conv_cfg=dict(type='BinaryConv2d', binarize='none')`` (or ``None``) the
    same class is the full-precision teacher/baseline.

    ``out_indices``, ``frozen_stages`` and ``norm_eval`` behave as in mmdet's
    ``ResNet``; outputs are the stages' feature maps (strides 4, 8, 16, 32).

    ``depth=20`` is IR-Net's CIFAR ResNet-20 (three stages of three blocks;
    use ``base_channels=16``, ``stem='cifar'``: a real 3x3/1 conv + norm, and
    ``downsample='zero_pad'``: option-A shortcuts).
    """
    arch_settings = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 20: (3, 3, 3)}

    def __init__(self,
                 depth: int = 18,
                 base_channels: int = 64,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 conv_cfg: Optional[Dict] = BINARY_CONV,
                 norm_cfg: Dict = dict(type='BN', requires_grad=True),
                 act_cfg: Dict = dict(type='Hardtanh'),
                 stem: str = 'imagenet',
                 downsample: str = 'conv',
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', val=1,
                                layer=['_BatchNorm', 'GroupNorm']))):
        # A tuple default is not a list to mmengine; a dict stays a dict.
        super().__init__(init_cfg=list(init_cfg) if isinstance(init_cfg, tuple)
                         else init_cfg)
        if depth not in self.arch_settings:
            raise ValueError(f'depth {depth} not in {sorted(self.arch_settings)}')
        num_stages = len(self.arch_settings[depth])
        if not out_indices or not set(out_indices) <= set(range(num_stages)):
            raise ValueError(f'out_indices must be within '
                             f'{tuple(range(num_stages))}, got {out_indices}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], got '
                             f'{frozen_stages}')
        if stem not in ('imagenet', 'cifar'):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self.depth, self.out_indices = depth, tuple(out_indices)
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        if stem == 'imagenet':
            self.stem = nn.Sequential(
                nn.Conv2d(3, base_channels, 7, 2, 3, bias=False),
                build_norm_layer(norm_cfg, base_channels)[1],
                MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(3, base_channels, 3, 1, 1, bias=False),
                build_norm_layer(norm_cfg, base_channels)[1])
        self.stages = nn.ModuleList()
        in_ch = base_channels
        for i, blocks in enumerate(self.arch_settings[depth]):
            out_ch = base_channels * 2**i
            layers = []
            for b in range(blocks):
                stride = 2 if i > 0 and b == 0 else 1
                layers.append(BiRealBasicBlock(in_ch, out_ch, stride, conv_cfg,
                                               norm_cfg, act_cfg, downsample))
                in_ch = out_ch
            self.stages.append(nn.Sequential(*layers))
        self.out_channels = [base_channels * 2**i for i in self.out_indices]
        self._freeze_stages()

    def _freeze_stages(self):
        """0 freezes the stem; i >= 1 the stem and the first i stages."""
        if self.frozen_stages < 0:
            return
        for module in [self.stem, *self.stages[:self.frozen_stages]]:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x):
        return self._run_stages(self.stem(x))

    def _run_stages(self, x):
        """The outputs of ``out_indices`` of the stages run on ``x`` (the
        stem's output)."""
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
