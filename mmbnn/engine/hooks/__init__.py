from .binarize_mode import BinarizeModeHook
from .binary_scheduler import BinarySchedulerHook, binary_layers
from .diagnostics import BNNDiagnosticsHook
from .distillation import (DistillationHook, LogitDistillationHook, RBDHook,
                           binary_blocks, full_precision_twin)
from .epoch_seed import EpochSeedHook

__all__ = ['BNNDiagnosticsHook', 'BinarizeModeHook', 'BinarySchedulerHook',
           'DistillationHook', 'EpochSeedHook', 'LogitDistillationHook',
           'RBDHook', 'binary_blocks', 'binary_layers', 'full_precision_twin']
