from .binary import BinaryConv2d, BinaryLinear, BinaryMixin

__all__ = ['BinaryConv2d', 'BinaryLinear', 'BinaryMixin']
