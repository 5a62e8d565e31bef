"""Initializing a module (a detector's backbone) from another model's checkpoint."""
from typing import Optional, Sequence

from mmengine.model.weight_init import update_init_info

from mmbnn.registry import WEIGHT_INITIALIZERS
from mmbnn.utils.checkpoint import (CheckpointMismatchError, read_checkpoint,
                                    state_dict_of)
from .state_dict import is_schedule_buffer_key, load_fitting_state_dict


# Registered as 'Pretrained' itself: mmengine applies an init_cfg of that
# name after the children's own init_weights (any other name runs before
# them, and e.g. ConvModule would then re-initialize the loaded convs).
@WEIGHT_INITIALIZERS.register_module(name='Pretrained', force=True)
class CheckedPretrainedInit:
    """``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``:
    mmengine's ``Pretrained`` without its silent ``strict=False`` (mmbnn
    replaces it when imported).

    Takes the keys under ``prefix`` (e.g. ``'backbone.'`` of a classifier
    checkpoint) and loads them into the module; a missing key, an unexpected
    key or a shape mismatch is a ``CheckpointMismatchError`` listing them,
    unless named in ``allow_mismatch`` (fnmatch patterns of the module's key
    names, e.g. ``['layer4.*']``). The binary layers' schedule buffers
    (``k``, ``t``, ``stage``, ``act_t_cap``) are not carried across: the
    module's own schedule starts fresh.

    Args:
        checkpoint (str): A local checkpoint (mmengine's, or a plain state dict).
        prefix (str, optional): Key prefix to take and strip.
        allow_mismatch (Sequence[str]): Keys allowed to be missing,
            unexpected or of another shape.
        map_location (str): Passed to ``torch.load``.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None,
                 allow_mismatch: Sequence[str] = (), map_location: str = 'cpu'):
        self.checkpoint = checkpoint
        self.prefix = prefix if not prefix or prefix.endswith('.') else prefix + '.'
        self.allow_mismatch = tuple(allow_mismatch)
        self.map_location = map_location

    def __call__(self, module):
        state = state_dict_of(read_checkpoint(self.checkpoint, self.map_location),
                              self.checkpoint)
        if self.prefix:
            taken = {k[len(self.prefix):]: v for k, v in state.items()
                     if k.startswith(self.prefix)}
            if not taken:
                tops = sorted({k.split('.')[0] + '.' for k in state})
                raise CheckpointMismatchError(
                    f'checkpoint {self.checkpoint!r} has no key starting with '
                    f'prefix {self.prefix!r}; its top-level prefixes are '
                    f'{", ".join(tops[:10])}')
            state = taken
        state = {k: v for k, v in state.items()
                 if not is_schedule_buffer_key(k)}
        load_fitting_state_dict(
            module, state, source=self.checkpoint,
            target=f'{type(module).__name__} (prefix {self.prefix!r})',
            allow=self.allow_mismatch, binary_buffers_optional=True,
            hint='Name keys meant to differ in init_cfg.allow_mismatch '
                 '(fnmatch patterns), or check the prefix.')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self):
        return (f'{type(self).__name__}: load {self.prefix or "all keys"} '
                f'from {self.checkpoint}')
