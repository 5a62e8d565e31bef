"""Importing this module registers every mmbnn module in mmengine's root
registries (``mmbnn.registry`` says which and why) and applies the pinned
stack's fixes (``mmbnn.utils.compat``, docs/stack.md). Configs name it::

    custom_imports = dict(imports=['mmbnn.plugin'], allow_failed_imports=False)
"""
__all__ = ['register_all_modules']

_REGISTERED = False


def register_all_modules() -> None:
    """Import (and so register) every mmbnn module and apply the stack's
    fixes; idempotent. Needs mmdet and mmpretrain (the datasets, the RoI
    extractor and the detector fixes)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from .utils.compat import apply_all
    apply_all()
    from . import apis, datasets, deploy, engine, models  # noqa: F401
    from .models.layers import roi_align  # noqa: F401  (needs mmdet)
    _REGISTERED = True


register_all_modules()
