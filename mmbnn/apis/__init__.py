from .experiment import stream, train_and_test

__all__ = ['stream', 'train_and_test']
