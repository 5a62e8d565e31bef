"""A Runner that loads a checkpoint only into the model it fits."""
from mmengine.runner import Runner

from mmbnn.models.utils.state_dict import (is_schedule_buffer_key,
                                           load_fitting_state_dict)
from mmbnn.registry import RUNNERS
from mmbnn.utils.checkpoint import (CheckpointError, read_checkpoint,
                                    state_dict_of)
from mmbnn.utils.dist import unwrap_model


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

    A ``.mmbnn`` file (an exported model) loads for testing only: its binary
    layers run on the XNOR-popcount kernels.
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
        model = unwrap_model(self.model)
        if str(filename).endswith('.mmbnn'):
            return self._load_packed(model, filename)
        checkpoint = read_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        state = state_dict_of(checkpoint, filename)
        fp_start = self._training_start and not any(
            is_schedule_buffer_key(k) for k in state)
        config = getattr(self.cfg, 'filename', None)
        load_fitting_state_dict(
            model, state, source=filename,
            target=f'the model of config {config!r}' if config else 'the model',
            allow=self.cfg.get('allow_mismatched_keys') or (),
            binary_buffers_optional=fp_start)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def _load_packed(self, model, filename):
        """A ``.mmbnn`` file (tools/deploy/export.py): the binary layers go on
        the XNOR-popcount kernels with its tensors, BN folded into them unless
        the config sets ``xnor_fuse = False`` (``tools/test.py --exact``);
        then the model is only evaluated, so its fused stages are frozen
        (``mmbnn.deploy.freeze``) once everything else is in place."""
        if self._training_start:
            raise CheckpointError(
                f'{filename!r} is an exported .mmbnn model: it holds sign bits, '
                'not the latent weights training needs; start from a '
                'checkpoint (.pth) instead')
        from mmbnn.deploy.export import install_packed
        meta = install_packed(model, filename,
                              fuse=self.cfg.get('xnor_fuse', True))
        batches = self.cfg.get('xnor_int8_batches')
        if batches:
            self._int8_float_layers(model, batches)
        from mmbnn.deploy import freeze
        freeze(model)
        self._has_loaded = True
        self.logger.info(f'Load XNOR-runtime model from {filename}')
        return dict(meta=meta)

    def _int8_float_layers(self, model, batches):
        """The model's full-precision convs and linears in int8
        (``mmbnn.deploy.int8``), calibrated on the first ``batches`` batches
        of the config's training set (``tools/test.py --int8 N``)."""
        from mmbnn.deploy.int8 import quantize_float_layers
        if not self.cfg.get('train_dataloader'):
            raise ValueError(
                'int8 full-precision layers are calibrated on the training '
                'set, and the config has no train_dataloader')
        loader = self.build_dataloader(self.cfg.train_dataloader,
                                       seed=self.seed)

        def calibration():
            for i, batch in enumerate(loader):
                if i == batches:
                    return
                yield model.data_preprocessor(batch, False)

        count = quantize_float_layers(
            model, calibration(), lambda m, data: m(**data, mode='tensor'))
        self.logger.info(f'{count} full-precision layers in int8, calibrated '
                         f'on {batches} training batches')
