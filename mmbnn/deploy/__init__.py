"""Deployment: the XNOR-popcount inference layers, converting a trained model
to them, the bit-packed ``.mmbnn`` file, and the full-precision layers in
int8."""
from .convert import freeze, fuse_xnor_blocks, to_xnor
from .export import export_model, export_state, install_packed
from .int8 import fold_batch_norms, quantize_float_layers
from .packed_file import (FORMAT_VERSION, PackedFileError, read_packed,
                          write_packed)
from .xnor_layers import XnorConv2d, XnorLinear

__all__ = ['FORMAT_VERSION', 'PackedFileError', 'XnorConv2d', 'XnorLinear',
           'export_model', 'export_state', 'freeze', 'fuse_xnor_blocks',
           'fold_batch_norms', 'install_packed', 'quantize_float_layers',
           'read_packed',
           'to_xnor', 'write_packed']
