"""Which parts of the binary layers are binary in this run (AdamBNN's steps)."""
from mmengine.hooks import Hook

from mmbnn.models.layers.binary import MODES, set_binarize_mode
from mmbnn.registry import HOOKS


@HOOKS.register_module()
class BinarizeModeHook(Hook):
    """Restrict every binary layer to ``mode`` before the run uses the model
    (training, validation and testing alike): ``'activations'`` is AdamBNN's
    step 1 (binary activations, real weights), ``'weights'`` the reverse
    order's step 1, ``'both'`` the configured layers unchanged (docs/methods.md
    3.1). Two-step training adds it to each step's config."""
    priority = 'VERY_HIGH'

    def __init__(self, mode: str):
        if mode not in MODES:
            raise ValueError(f'unknown binarize mode {mode!r}; choose from '
                             f'{list(MODES)}')
        self.mode = mode

    def before_run(self, runner) -> None:
        n = set_binarize_mode(runner.model, self.mode)
        runner.logger.info(f'BinarizeModeHook: {n} binary layer(s) binarize '
                           f'{self.mode!r}')
