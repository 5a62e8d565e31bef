"""Bi-Real Net blocks: a real-valued shortcut around every binary conv
(docs/methods.md 1.4), as ResNet blocks and as an mmcv ``ConvModule``."""
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import (ConvModule, build_activation_layer, build_conv_layer,
                      build_norm_layer)


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut of the CIFAR ResNets (He et al.): subsample by the
    stride and zero-pad the new channels; no parameters."""

    def __init__(self, stride, extra_channels):
        super().__init__()
        self.stride, self.extra_channels = stride, extra_channels

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class BiRealConv(nn.Module):
    """One binary conv with its own shortcut: ``act(bn(conv(x)) + shortcut(x))``.

    The shortcut is the identity or, when the conv changes the stride or
    width, ``downsample='conv'``: a real-valued ``AvgPool2d(2)`` (stride 2
    only) + 1x1 conv + norm; ``'zero_pad'``: the parameter-free option A.
    """

    def __init__(self, in_channels, out_channels, stride, conv_cfg, norm_cfg,
                 act_cfg, downsample='conv'):
        super().__init__()
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, 3,
                                     stride=stride, padding=1, bias=False)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)
        self.shortcut = nn.Identity()
        if stride == 1 and in_channels == out_channels:
            return
        if downsample == 'zero_pad':
            if out_channels < in_channels:
                raise ValueError('a zero-padded shortcut cannot reduce width')
            self.shortcut = ZeroPadShortcut(stride, out_channels - in_channels)
        elif downsample == 'conv':
            self.shortcut = nn.Sequential(
                # ceil_mode matches the strided conv's output size on odd inputs.
                nn.AvgPool2d(stride, stride, ceil_mode=True,
                             count_include_pad=False)
                if stride != 1 else nn.Identity(),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                build_norm_layer(norm_cfg, out_channels)[1])
        else:
            raise ValueError(f"downsample must be 'conv' or 'zero_pad', got "
                             f'{downsample!r}')

    def forward(self, x):
        return self.act(self.norm(self.conv(x)) + self.shortcut(x))


class BiRealBasicBlock(nn.Sequential):
    """ResNet BasicBlock as two ``BiRealConv``: a shortcut around every conv."""

    def __init__(self, in_channels, out_channels, stride, conv_cfg, norm_cfg,
                 act_cfg, downsample='conv'):
        super().__init__(
            BiRealConv(in_channels, out_channels, stride, conv_cfg, norm_cfg,
                       act_cfg, downsample),
            BiRealConv(out_channels, out_channels, 1, conv_cfg, norm_cfg,
                       act_cfg))


class ShortcutConvModule(ConvModule):
    """``act(norm(conv(x)) + shortcut(x))``: a ``ConvModule`` with a Bi-Real
    shortcut (same parameter names, so FP checkpoints load into either). The
    shortcut is the input, repeated along channels when the conv widens it by
    a whole factor (ReActNet's duplication: no parameters, and the real-valued
    path runs on through the layer)."""

    def __init__(self, in_channels, out_channels, *args, **kwargs):
        super().__init__(in_channels, out_channels, *args, **kwargs)
        if out_channels % in_channels:
            raise ValueError(f'a shortcut repeats the input: out_channels '
                             f'({out_channels}) must be a multiple of '
                             f'in_channels ({in_channels})')
        self.repeats = out_channels // in_channels

    def shortcut(self, x):
        return x if self.repeats == 1 else x.repeat(1, self.repeats, 1, 1)

    def forward(self, x, activate=True, norm=True):
        out = super().forward(x, activate=False, norm=norm) + self.shortcut(x)
        return self.activate(out) if activate and self.with_activation else out
