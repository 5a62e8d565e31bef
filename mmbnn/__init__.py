"""mmbnn: binary neural networks (DIR-Net, AdamBNN) for MMDetection 3.x.

A light root: importing ``mmbnn`` (or its floor, ``mmbnn.ops``) imports
nothing from mm and registers nothing. ``import mmbnn.plugin`` (or
``custom_imports = dict(imports=['mmbnn.plugin'])`` in a config) registers
mmbnn's modules in mmengine's root registries, where mmdet and mmpretrain
configs find them, and applies the stack's compatibility fixes
(``mmbnn.registry``). The package's map is docs/package_map.md.
"""
from .version import __version__

__all__ = ['__version__', 'register_all_modules']


def register_all_modules() -> None:
    """Register every mmbnn module and apply the stack's fixes (what
    importing ``mmbnn.plugin`` does)."""
    from .plugin import register_all_modules as register
    register()
