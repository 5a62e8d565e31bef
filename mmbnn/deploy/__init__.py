"""Deployment: the XNOR-popcount inference layers, converting a trained model
to them, and the bit-packed ``.mmbnn`` file."""
from .convert import fuse_xnor_blocks, to_xnor
from .export import export_model, export_state, install_packed
from .packed_file import (FORMAT_VERSION, PackedFileError, read_packed,
                          write_packed)
from .xnor_layers import XnorConv2d, XnorLinear

__all__ = ['FORMAT_VERSION', 'PackedFileError', 'XnorConv2d', 'XnorLinear',
           'export_model', 'export_state', 'fuse_xnor_blocks',
           'install_packed', 'read_packed',
           'to_xnor', 'write_packed']
