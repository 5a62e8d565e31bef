from .binary import BinaryConv2d, BinaryLinear, BinaryMixin, set_binarize_mode
from .reactnet import LearnableShift, RPReLU, RSign

__all__ = ['BinaryConv2d', 'BinaryLinear', 'BinaryMixin', 'LearnableShift', 'RPReLU', 'RSign',
           'set_binarize_mode']
