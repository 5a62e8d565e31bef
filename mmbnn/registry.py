"""The registries mmbnn registers into, and why.

mmbnn owns no scope. Every module it adds (binary layers and backbones,
hooks, the checked runner, the optimizer-wrapper constructor, the checked
datasets, the strict ``Pretrained`` initializer) goes into **mmengine's root
registries**, which every OpenMMLab scope (``mmdet``, ``mmpretrain``, a
user's own) searches after its own. So a stock mmdet or mmpretrain config
names ``BinaryConv2d``, ``BiRealResNet`` or ``RBDHook`` as it names its own
types, and a binary conv is a conv layer type that any mmcv/mmdet module
takes through ``conv_cfg``. A scope of mmbnn's own would need every registry
kind defined (or mmengine silently falls back to the root and, e.g.,
``VOCDataset`` is "not found"), for no gain.

Registration happens when the modules are imported: importing
``mmbnn.plugin`` (what configs name in ``custom_imports``) imports them all.
``import mmbnn`` and ``import mmbnn.ops`` register nothing and import
nothing from mm.
"""
from mmengine.registry import (DATASETS, HOOKS, MODELS,
                               OPTIM_WRAPPER_CONSTRUCTORS, RUNNERS,
                               WEIGHT_INITIALIZERS)

__all__ = ['DATASETS', 'HOOKS', 'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS',
           'RUNNERS', 'WEIGHT_INITIALIZERS']
