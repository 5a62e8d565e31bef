"""Test helper: run tools/train.py and SIGKILL this process at a chosen point.

    KILL_AT=iter:EPOCH:INDEX   before training iteration INDEX of EPOCH (0-based)
    KILL_AT=write:NAME         half way through writing a file whose name
                               contains NAME (e.g. a checkpoint being saved)
    KILL_RANK=R                only the process of that distributed rank dies

Everything after the harness's own path is passed to tools/train.py.
"""
import builtins
import os
import os.path as osp
import runpy
import signal
import sys

TRAIN = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools',
                 'train.py')


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class _HalfWriter:
    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[:len(data) // 2])
        self._f.flush()
        os.fsync(self._f.fileno())
        die()

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def install(point):
    kind, _, arg = point.partition(':')
    if kind == 'iter':
        from mmengine.runner.loops import EpochBasedTrainLoop
        epoch, index = map(int, arg.split(':'))
        run_iter = EpochBasedTrainLoop.run_iter

        def patched(self, idx, data_batch):
            if self._epoch == epoch and idx == index:
                print(f'kill_harness: SIGKILL at epoch {epoch} iter {idx}')
                die()
            return run_iter(self, idx, data_batch)
        EpochBasedTrainLoop.run_iter = patched
    elif kind == 'write':
        real_open = builtins.open

        def patched_open(file, mode='r', *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            if 'w' in mode and arg in osp.basename(str(file)):
                print(f'kill_harness: SIGKILL while writing {file}')
                return _HalfWriter(f)
            return f
        builtins.open = patched_open
    else:
        raise ValueError(f'unknown KILL_AT {point!r}')


if __name__ == '__main__':
    if os.environ.get('RANK', '0') == os.environ.get('KILL_RANK', os.environ.get('RANK', '0')):
        install(os.environ['KILL_AT'])
    sys.argv = [TRAIN] + sys.argv[1:]
    runpy.run_path(TRAIN, run_name='__main__')
