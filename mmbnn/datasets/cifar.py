"""CIFAR-10 read from disk only (mmpretrain's reader, never downloading)."""
import os.path as osp

from mmpretrain.datasets import CIFAR10

from mmbnn.registry import DATASETS


@DATASETS.register_module()
class LocalCIFAR10(CIFAR10):
    """mmpretrain's ``CIFAR10`` that never downloads: the python-pickle files
    must be under ``data_root/cifar-10-batches-py``, and a missing file is an
    error naming it.

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

    def _load_meta(self):
        if self.verify_md5:
            return super()._load_meta()
        saved, self.meta = self.meta, dict(self.meta, md5=None)
        try:
            return super()._load_meta()
        finally:
            self.meta = saved
