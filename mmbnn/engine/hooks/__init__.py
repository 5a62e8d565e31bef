from .binary_scheduler import BinarySchedulerHook, binary_layers
from .epoch_seed import EpochSeedHook

__all__ = ['BinarySchedulerHook', 'EpochSeedHook', 'binary_layers']
