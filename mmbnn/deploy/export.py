"""Export a trained model to a ``.mmbnn`` file, and install a file's tensors
into a model on the XNOR runtime (docs/deploy.md; ``mmbnn.apis.init_model``
builds a config's model from one)."""
import copy
import os

import torch.nn as nn

from mmbnn.models.utils.state_dict import load_fitting_state_dict
from mmbnn.version import __version__
from .convert import to_xnor
from .packed_file import read_packed, write_packed
from .xnor_layers import XnorConv2d

__all__ = ['export_state', 'export_model', 'install_packed']


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


def export_model(model: nn.Module, out: str, fp16: bool = False,
                 checkpoint: str = None) -> dict:
    """Write the XNOR twin of the trained ``model`` (``mmbnn.apis.init_model``
    of a config and a checkpoint) to ``out``; returns the sizes (bytes) and
    their ratios: against the model's float32 weights and, if given, the
    ``checkpoint`` file it came from."""
    tensors = export_state(model, fp16)
    cfg = getattr(model, 'cfg', None)
    meta = dict(mmbnn_version=__version__, fp16=fp16,
                source_checkpoint=os.path.basename(checkpoint or ''),
                config=cfg.pretty_text if cfg is not None else '')
    size = write_packed(out, tensors, meta)
    fp32 = sum(t.numel() * 4 for k, t in model.state_dict().items()
               if t.is_floating_point())
    report = dict(file_bytes=size, fp32_state_bytes=fp32,
                  size_ratio=fp32 / size)
    if checkpoint is not None:
        report.update(checkpoint_bytes=os.path.getsize(checkpoint),
                      checkpoint_ratio=os.path.getsize(checkpoint) / size)
    return report


def install_packed(model: nn.Module, path: str, fuse: bool = True) -> dict:
    """Put the XNOR twins of ``model``'s binary layers in place and load the
    tensors of the ``.mmbnn`` file ``path`` into it; returns the file's meta.
    A file that does not fit the model (missing, unexpected or mis-shaped
    tensors) is an error naming them, before the model is changed."""
    tensors, meta = read_packed(path)
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
