from .binary_scheduler import BinarySchedulerHook, binary_layers
from .distillation import (DistillationHook, LogitDistillationHook, RBDHook,
                           binary_blocks, full_precision_twin)
from .epoch_seed import EpochSeedHook

__all__ = ['BinarySchedulerHook', 'DistillationHook', 'EpochSeedHook',
           'LogitDistillationHook', 'RBDHook', 'binary_blocks', 'binary_layers',
           'full_precision_twin']
