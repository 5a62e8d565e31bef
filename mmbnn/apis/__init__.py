from .experiment import (DEMO, fp_then_binary, handoff_options,
                         pretrain_then_distill, read_diagnostics, stream,
                         train_and_test, write_table)

__all__ = ['DEMO', 'fp_then_binary', 'handoff_options', 'pretrain_then_distill',
           'read_diagnostics', 'stream', 'train_and_test', 'write_table']
