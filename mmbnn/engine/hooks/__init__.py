from .binarize_mode_hook import BinarizeModeHook
from .binary_scheduler_hook import BinarySchedulerHook
from .bnn_diagnostics_hook import BNNDiagnosticsHook
from .distillation_hook import DistillationHook, LogitDistillationHook, RBDHook
from .epoch_seed_hook import EpochSeedHook

__all__ = ['BNNDiagnosticsHook', 'BinarizeModeHook', 'BinarySchedulerHook',
           'DistillationHook', 'EpochSeedHook', 'LogitDistillationHook',
           'RBDHook']
