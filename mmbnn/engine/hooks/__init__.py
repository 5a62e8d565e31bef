from .binary_scheduler import BinarySchedulerHook, binary_layers

__all__ = ['BinarySchedulerHook', 'binary_layers']
