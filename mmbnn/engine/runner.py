"""A Runner that loads a checkpoint only into the model it fits."""
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmbnn.utils.checkpoint import (BINARY_BUFFERS, load_fitting_state_dict,
                                    read_checkpoint, state_dict_of)


@RUNNERS.register_module()
class CheckedRunner(Runner):
    """mmengine's Runner whose ``load_from``, ``--resume`` and test-time
    loading refuse a checkpoint that does not fit the config's model.

    mmengine loads with ``strict=False`` and only warns, so a checkpoint of
    another config gives a metric that looks like a result. Here any missing
    key, unexpected key or shape mismatch is a ``CheckpointMismatchError``
    naming the config, the checkpoint and the keys. Keys meant to differ are
    named in the config as ``allow_mismatched_keys = ['bbox_head.*', ...]``
    (fnmatch patterns; ``--allow-mismatch`` in the tools).

    One documented exception: when ``load_from`` starts *training* of a BNN
    from a full-precision checkpoint (the usual FP-to-BNN start), the binary
    layers' schedule buffers (``k``, ``t``, ``stage``, ``act_t_cap``), which
    an FP checkpoint cannot have, keep their initial values. Resuming and
    testing allow no such gap.
    """

    _training_start = False

    def train(self):
        self._training_start = True
        try:
            return super().train()
        finally:
            self._training_start = False

    def resume(self, filename, *args, **kwargs):
        was, self._training_start = self._training_start, False
        try:
            return super().resume(filename, *args, **kwargs)
        finally:
            self._training_start = was

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module\.', '')]):
        # ``strict`` and ``revise_keys`` are accepted for mmengine's signature:
        # loading is always checked (allowances are named in the config), and
        # keys are revised only by stripping DDP's ``module.`` prefix.
        checkpoint = read_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        state = state_dict_of(checkpoint, filename)
        fp_start = self._training_start and not any(
            k.rpartition('.')[2] in BINARY_BUFFERS for k in state)
        config = getattr(self.cfg, 'filename', None)
        load_fitting_state_dict(
            model, state, source=filename,
            target=f'the model of config {config!r}' if config else 'the model',
            allow=self.cfg.get('allow_mismatched_keys') or (),
            binary_buffers_optional=fp_start)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
