"""Converting a trained model to the XNOR-popcount runtime (docs/deploy.md).

``to_xnor(model)`` replaces every fully binary ``BinaryConv2d`` /
``BinaryLinear`` by ``XnorConv2d`` / ``XnorLinear`` under the same module
name, so the model gives the PyTorch model's outputs bit for bit. With
``fuse=True`` the blocks around them (Bi-Real convs, mmcv ConvModules with
BN) also fold BN into the kernel's per-channel affine and add the residual,
clip (Hardtanh) and pack the next layer's sign bits in the same pass: faster,
and equal to PyTorch within float rounding (about 1e-6 relative) of the BN
and the sum.
"""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from mmbnn.models.layers.binary import BinaryConv2d, BinaryLinear
from mmbnn.models.layers.bireal import BiRealConv, ShortcutConvModule
from .xnor_layers import XnorConv2d, XnorLinear

__all__ = ['to_xnor', 'fuse_xnor_blocks']


def _hardtanh_clip(act) -> bool:
    return isinstance(act, nn.Hardtanh) and act.min_val == -1 and \
        act.max_val == 1


class _FusedBiRealConv(BiRealConv):
    """``BiRealConv`` with BN, residual and Hardtanh in the kernel."""

    def forward(self, x):
        if self.norm.training or not isinstance(self.norm, nn.BatchNorm2d):
            return super().forward(x)
        clip = _hardtanh_clip(self.act)
        y = self.conv(x, norm=self.norm, residual=self.shortcut(x), clip=clip,
                      want_bits=True)
        return y if clip else self.act(y)


class _FusedConvModule(ConvModule):
    """mmcv ``ConvModule`` (conv, BN, act) with BN and a Hardtanh in the
    kernel; ``residual`` adds the input (``ShortcutConvModule``)."""
    residual = False

    def forward(self, x, activate=True, norm=True):
        if not (norm and self.with_norm and not self.norm.training
                and self.order == ('conv', 'norm', 'act')
                and isinstance(self.norm, nn.BatchNorm2d)
                and not self.with_explicit_padding):
            return super().forward(x, activate, norm)
        act = self.activate if activate and self.with_activation else None
        clip = _hardtanh_clip(act)
        y = self.conv(x, norm=self.norm,
                      residual=self.shortcut(x) if self.residual else None,
                      clip=clip, want_bits=act is None or clip)
        return y if act is None or clip else act(y)


class _FusedShortcutConvModule(_FusedConvModule, ShortcutConvModule):
    residual = True


_FUSED = {BiRealConv: _FusedBiRealConv, ConvModule: _FusedConvModule,
          ShortcutConvModule: _FusedShortcutConvModule}


def to_xnor(model: nn.Module, fuse: bool = True) -> nn.Module:
    """Replace, in place, every fully binary conv / linear layer of ``model``
    by its XNOR-popcount twin and put the model in eval mode; with ``fuse``,
    also fold the blocks around them (``fuse_xnor_blocks``) and make its 4-D
    weights channels-last. Returns
    ``model``. Layers that binarize only weights or only activations stay
    PyTorch layers (XNOR needs both binary)."""
    model.eval()
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, BinaryConv2d) and child.binarize == 'both':
                setattr(module, child_name, XnorConv2d.from_binary(child))
            elif isinstance(child, BinaryLinear) and child.binarize == 'both':
                setattr(module, child_name, XnorLinear.from_binary(child))
    if fuse:
        fuse_xnor_blocks(model)
        # Channels-last float convs: the fused blocks' layout from the first
        # conv on, whatever the layout of the input.
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.data = module.weight.data.contiguous(
                    memory_format=torch.channels_last)
    return model.eval()


def fuse_xnor_blocks(model: nn.Module) -> int:
    """Let the blocks whose conv is an ``XnorConv2d`` (Bi-Real convs, mmcv
    ConvModules) run BN, residual, Hardtanh and the next layer's packing in
    the kernel. Names and parameters are unchanged. Returns the count."""
    count = 0
    for module in model.modules():
        fused = _FUSED.get(type(module))
        if fused is not None and type(getattr(module, 'conv', None)) is \
                XnorConv2d:
            module.__class__ = fused
            count += 1
    return count
