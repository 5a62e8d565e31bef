"""Building a config's model: one way for every tool, hook and test."""
import copy

import torch.nn as nn

from mmbnn.registry import MODELS
from .layers.binary import set_binarize_mode

__all__ = ['build_model', 'full_precision_twin']


def build_model(cfg, scope: str = None) -> nn.Module:
    """The model of ``cfg`` (a whole config, with ``model`` and
    ``default_scope``, or a model config alone) built in its registry scope:
    ``scope``, else the config's ``default_scope``, else the current one,
    else mmdet. mmdet detectors and mmpretrain classifiers are registered
    first; the current default scope is left as it was."""
    from mmengine.registry import DefaultScope
    model_cfg = copy.deepcopy(cfg.get('model', cfg) if 'type' not in cfg
                              else cfg)
    # A top-level data_preprocessor (mmpretrain's configs) goes into the
    # model, as mmengine's Runner puts it.
    if 'type' not in cfg and cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    current = DefaultScope.get_current_instance()
    scope = (scope or cfg.get('default_scope')
             or (current.scope_name if current is not None else None)
             or 'mmdet')
    if scope == 'mmpretrain':
        import mmpretrain.models  # noqa: F401 (registration)
    elif scope == 'mmdet':
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model_cfg)


def full_precision_twin(model_cfg, scope: str = None) -> nn.Module:
    """Build ``model_cfg`` and switch every binary layer to full precision
    (``binarize='none'``): the student's architecture with real weights and
    activations (RBD's default teacher)."""
    model = build_model(model_cfg, scope)
    set_binarize_mode(model, 'none')
    return model
