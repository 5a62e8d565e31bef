"""Export a trained model to a ``.mmbnn`` file and build the XNOR runtime
model back from it (docs/deploy.md)."""
import copy
import os

import torch.nn as nn

from mmbnn.utils.checkpoint import (load_fitting_state_dict, read_checkpoint,
                                    state_dict_of)
from mmbnn.version import __version__
from .packed_file import read_packed, write_packed
from .runtime import XnorConv2d, to_xnor

__all__ = ['build_model', 'export_state', 'export_model', 'install_packed',
           'load_runtime_model']


def build_model(cfg) -> nn.Module:
    """``cfg.model`` built in the config's registry scope (mmdet for
    detectors, mmpretrain for classifiers)."""
    from mmengine.registry import MODELS, init_default_scope
    scope = cfg.get('default_scope', 'mmdet')
    if scope == 'mmpretrain':
        import mmpretrain.models  # noqa: F401 (registration)
    else:
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=False)
    init_default_scope(scope)
    return MODELS.build(copy.deepcopy(cfg.model))


def export_state(model: nn.Module, fp16: bool = False) -> dict:
    """The tensors of ``model``'s XNOR twin (a converted copy; ``model`` is
    left as it is): sign bits and scale exponents of the binary layers,
    everything else as it is, floats in fp16 if ``fp16``. Training-only state
    (latent weights, estimator schedules, BN's batch counters) is left out."""
    twin = to_xnor(copy.deepcopy(model).cpu(), fuse=False)
    if not any(isinstance(m, XnorConv2d) for m in twin.modules()):
        raise ValueError('the model has no fully binary layer to pack')
    state = {}
    for name, tensor in twin.state_dict().items():
        if name.endswith('num_batches_tracked'):
            continue
        if fp16 and tensor.is_floating_point():
            tensor = tensor.half()
        state[name] = tensor
    return state


def export_model(cfg, checkpoint: str, out: str, fp16: bool = False) -> dict:
    """Build ``cfg``'s model, load ``checkpoint`` (every key must fit), write
    its XNOR twin to ``out``; returns the sizes (bytes) and their ratios."""
    model = build_model(cfg)
    state = state_dict_of(read_checkpoint(checkpoint, map_location='cpu'),
                          checkpoint)
    load_fitting_state_dict(model, state, checkpoint, 'the config\'s model',
                            binary_buffers_optional=True)
    tensors = export_state(model, fp16)
    meta = dict(mmbnn_version=__version__, fp16=fp16,
                source_checkpoint=os.path.basename(checkpoint),
                config=cfg.pretty_text)
    size = write_packed(out, tensors, meta)
    fp32 = sum(t.numel() * 4 for k, t in model.state_dict().items()
               if t.is_floating_point())
    return dict(file_bytes=size, fp32_state_bytes=fp32,
                checkpoint_bytes=os.path.getsize(checkpoint),
                size_ratio=fp32 / size,
                checkpoint_ratio=os.path.getsize(checkpoint) / size)


def install_packed(model: nn.Module, path: str, fuse: bool = True,
                   contents=None) -> dict:
    """Put the XNOR twins of ``model``'s binary layers in place and load the
    tensors of the ``.mmbnn`` file ``path`` into it (``contents``: what
    ``read_packed(path)`` returned, if the caller read it already); returns
    the file's meta. A file that does not fit the model (missing, unexpected
    or mis-shaped tensors) is an error naming them, before the model is
    changed."""
    tensors, meta = contents if contents is not None else read_packed(path)
    # Fitted on a converted copy first: a file that does not fit leaves the
    # model as it was.
    load_fitting_state_dict(to_xnor(copy.deepcopy(model), fuse=False),
                            tensors, path, "the config's model")
    to_xnor(model, fuse=fuse)
    load_fitting_state_dict(model, tensors, path, "the config's model")
    for module in model.modules():
        if isinstance(module, XnorConv2d):
            module._cache.clear()
    return meta


def load_runtime_model(cfg, path: str, fuse: bool = True) -> nn.Module:
    """``cfg``'s model with its binary layers on the XNOR kernels and the
    tensors of the ``.mmbnn`` file ``path``, in eval mode."""
    model = build_model(cfg)
    install_packed(model, path, fuse)
    return model.eval()
