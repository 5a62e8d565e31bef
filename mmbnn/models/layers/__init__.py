from .activations import LearnableShift, RPReLU, RSign
from .binary import (BinaryConv2d, BinaryLinear, BinaryMixin, binary_blocks,
                     binary_layers, set_binarize_mode)
from .bireal import (BiRealBasicBlock, BiRealConv, ShortcutConvModule,
                     ZeroPadShortcut)
from .pooling import MaxPool2d
from .reactnet import ReActBlock
from .roi_align import FastSingleRoIExtractor, RoIAlign

__all__ = ['BiRealBasicBlock', 'BiRealConv', 'BinaryConv2d', 'BinaryLinear',
           'BinaryMixin', 'FastSingleRoIExtractor', 'LearnableShift',
           'MaxPool2d', 'RPReLU', 'RSign', 'ReActBlock', 'RoIAlign',
           'ShortcutConvModule', 'ZeroPadShortcut', 'binary_blocks',
           'binary_layers', 'set_binarize_mode']
