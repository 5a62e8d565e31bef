"""Writing files so that a reader never sees a partial one."""
import glob
import os
import os.path as osp

__all__ = ['atomic_write_bytes']


def atomic_write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` so that a reader (or a later run) sees the
    old file or the new one, never a partial one: write a temporary file in
    the same folder, flush it to disk, then rename it over ``path``."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    # What a writer killed mid-write (SIGKILL skips the cleanup) left behind.
    for stale in glob.glob(f'{glob.escape(path)}.*.tmp'):
        os.remove(stale)
