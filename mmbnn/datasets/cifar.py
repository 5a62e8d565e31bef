"""CIFAR-10 read from disk only (mmpretrain's reader, never downloading)."""
import os.path as osp
import pickle

import numpy as np
from mmpretrain.datasets import CIFAR10

from mmbnn.registry import DATASETS


@DATASETS.register_module()
class LocalCIFAR10(CIFAR10):
    """mmpretrain's ``CIFAR10`` that never downloads: the python-pickle files
    must be under ``data_root/cifar-10-batches-py``, and a missing, unreadable
    or malformed file is an error naming it and what is wrong.

    Args:
        verify_md5 (bool): Check the official files' MD5 sums (default). The
            generated set (``tools/misc/generate_data.py cifar10``) has the
            same format but other contents: set it False for that.
        Others: as mmpretrain's ``CIFAR10`` (``download`` is refused).
    """

    def __init__(self, *args, verify_md5: bool = True, **kwargs):
        if kwargs.pop('download', False):
            raise ValueError('LocalCIFAR10 never downloads; put CIFAR-10 under '
                             'data_root/cifar-10-batches-py')
        self.verify_md5 = verify_md5
        super().__init__(*args, download=False, **kwargs)

    def _check_integrity(self):
        folder = osp.join(self.data_prefix['root'], self.base_folder)
        files = [name for name, _ in self.train_list + self.test_list]
        missing = [f for f in files + [self.meta['filename']]
                   if not osp.isfile(osp.join(folder, f))]
        if missing:
            raise FileNotFoundError(
                f'CIFAR-10 files missing under {folder}: {", ".join(missing)} '
                '(the python version, cifar-10-python.tar.gz, unpacked)')
        if self.verify_md5:
            from mmpretrain.datasets.utils import check_md5
            for name, md5 in self.train_list + self.test_list:
                if not check_md5(osp.join(folder, name), md5):
                    raise ValueError(
                        f'{osp.join(folder, name)} is not the official CIFAR-10 '
                        'file (MD5 differs); for a generated set of the same '
                        'format set verify_md5=False')
        return True

    def load_data_list(self):
        """The split's images (HWC uint8) and labels, each batch file read
        once and checked: a pickled dict with ``data`` (N x 3072 uint8
        rows) and ``labels`` (or CIFAR-100's ``fine_labels``) of N ints."""
        self._check_integrity()
        folder = osp.join(self.data_prefix['root'], self.base_folder)
        files = self.train_list if self.split == 'train' else self.test_list
        images, labels = [], []
        for name, _ in files:
            data, batch_labels = _read_batch(osp.join(folder, name))
            images.append(data)
            labels += batch_labels
        images = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(
            0, 2, 3, 1)
        if self.CLASSES is None:
            self._load_meta()
        return [dict(img=img, gt_label=label)
                for img, label in zip(images, labels)]

    def _load_meta(self):
        if self.verify_md5:
            return super()._load_meta()
        saved, self.meta = self.meta, dict(self.meta, md5=None)
        try:
            return super()._load_meta()
        finally:
            self.meta = saved


def _unpickle(path: str) -> dict:
    """A CIFAR python-version file as the real ones are read (latin1), or a
    ValueError naming the file."""
    try:
        with open(path, 'rb') as f:
            entry = pickle.load(f, encoding='latin1')
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError, ImportError, IndexError) as e:
        raise ValueError(f'{path} is not a readable CIFAR pickle '
                         f'({type(e).__name__}: {e})') from None
    if not isinstance(entry, dict):
        raise ValueError(f'{path}: expected a pickled dict, got '
                         f'{type(entry).__name__}')
    if entry and all(isinstance(k, bytes) for k in entry):
        raise ValueError(f'{path}: its dict keys are bytes ({sorted(entry)[:3]}'
                         '...); CIFAR files are read with str keys '
                         "(pickle.load(f, encoding='latin1')): write them with "
                         'str keys, as the official files are')
    return entry


def _read_batch(path: str):
    """``(data, labels)`` of one batch file, checked."""
    entry = _unpickle(path)
    label_key = 'labels' if 'labels' in entry else 'fine_labels'
    missing = [k for k in ('data', label_key) if k not in entry]
    if missing:
        raise ValueError(f'{path}: the batch dict has no '
                         f'{" or ".join(map(repr, missing))} entry (keys: '
                         f'{", ".join(map(str, sorted(entry, key=str)))})')
    data = np.asarray(entry['data'])
    labels = [int(v) for v in entry[label_key]]
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f'{path}: data must be N x 3072 uint8 rows (R, G, B '
                         f'32x32 planes), got {data.dtype} {data.shape}')
    if len(labels) != len(data):
        raise ValueError(f'{path}: {len(data)} images but {len(labels)} '
                         'labels')
    return data, labels
