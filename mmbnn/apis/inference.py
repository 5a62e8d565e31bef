"""A config's model, ready to run: the one way the tools (summary,
benchmarks, export) build a model outside a training run."""
import logging
import os.path as osp
from contextlib import contextmanager
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config

from mmbnn.models.builder import build_model
from mmbnn.models.utils.state_dict import load_fitting_state_dict
from mmbnn.utils.checkpoint import read_checkpoint, state_dict_of
from .config import load_config

__all__ = ['init_model', 'quiet_logging']


@contextmanager
def quiet_logging(level: int = logging.WARNING):
    """mmengine's current logger at ``level`` inside the block: building and
    initializing a model logs a line per parameter (``init_weights``), which
    a tool that prints a table must not show."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    old = logger.level
    logger.setLevel(level)
    try:
        yield logger
    finally:
        logger.setLevel(old)


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               device: str = 'cpu', cfg_options: Optional[dict] = None,
               fuse: bool = True) -> nn.Module:
    """Build the model of ``config`` (a path or a loaded ``Config``) in its
    registry scope (mmdet detectors, mmpretrain classifiers), in eval mode on
    ``device``, with the config attached as ``model.cfg``.

    ``checkpoint``: ``None`` initializes the weights as training would start
    (``init_weights``); a ``.mmbnn`` file (``tools/deploy/export.py``) puts
    the binary layers on the XNOR-popcount kernels with its tensors (``fuse``:
    BN folded into them; ``False`` runs each layer as PyTorch does); any other
    file is a checkpoint read safely whose keys must fit the model (a binary
    layer's schedule buffers may be absent: inference does not read them).
    Model building is quiet (mmengine's logger at WARNING). mmbnn's
    modules are registered by the config's ``custom_imports`` (every mmbnn
    config has it), or by importing ``mmbnn.plugin``.
    """
    cfg = load_config(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    with quiet_logging():
        model = build_model(cfg)
        if checkpoint is None:
            model.init_weights()
    if checkpoint is not None and checkpoint.endswith('.mmbnn'):
        from mmbnn.deploy.export import install_packed
        install_packed(model, checkpoint, fuse=fuse)
    elif checkpoint is not None:
        state = state_dict_of(read_checkpoint(checkpoint, map_location='cpu'),
                              checkpoint)
        load_fitting_state_dict(
            model, state, checkpoint,
            f'the model of config {osp.basename(cfg.filename or "")!r}',
            binary_buffers_optional=True)
    model.cfg = cfg
    return model.to(device).eval()
