from .experiment import fp_then_binary, stream, train_and_test

__all__ = ['fp_then_binary', 'stream', 'train_and_test']
