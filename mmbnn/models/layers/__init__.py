from .activations import LearnableShift, RPReLU, RSign
from .binary import (BinaryConv2d, BinaryLinear, BinaryMixin, binary_blocks,
                     binary_layers, set_binarize_mode)
from .bireal import (BiRealBasicBlock, BiRealConv, ShortcutConvModule,
                     ZeroPadShortcut)
from .pooling import MaxPool2d
from .reactnet import ReActBlock

# .roi_align (RoIAlign, FastSingleRoIExtractor) is not imported here: it
# needs mmdet and mmcv's compiled ops, which the device tier's bare GPU
# machine lacks (tests/test_device/test_tier_imports.py); mmbnn.plugin
# imports it.
__all__ = ['BiRealBasicBlock', 'BiRealConv', 'BinaryConv2d', 'BinaryLinear',
           'BinaryMixin', 'LearnableShift', 'MaxPool2d', 'RPReLU', 'RSign',
           'ReActBlock', 'ShortcutConvModule', 'ZeroPadShortcut',
           'binary_blocks', 'binary_layers', 'set_binarize_mode']
