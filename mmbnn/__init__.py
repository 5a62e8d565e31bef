"""mmbnn: binary neural networks (DIR-Net, AdamBNN) for MMDetection 3.x.

Importing it (or ``custom_imports = dict(imports=['mmbnn'])`` in a config)
applies the stack's compatibility fixes and registers mmbnn's modules in
mmdet's registries, so stock mmdet configs can name them.
"""
from .utils.compat import apply_all as _apply_compat_fixes
from .version import __version__

_apply_compat_fixes()

from . import datasets, engine, models  # noqa: E402,F401 (registration)

__all__ = ['__version__']
