"""mmbnn/datasets/cifar.py: LocalCIFAR10 reads the files and refuses gaps."""
import pytest


def test_local_cifar10_reads_generated_files_and_refuses_gaps(tmp_path):
    from mmbnn.datasets import LocalCIFAR10, generate_cifar10
    generate_cifar10(str(tmp_path), num_train=10, num_test=5, progress=False)
    data = LocalCIFAR10(data_root=str(tmp_path), split='train',
                        verify_md5=False, lazy_init=False)
    assert len(data) == 10 and data.get_data_info(0)['img'].shape == (32, 32, 3)
    assert len(data.metainfo['classes']) == 10
    with pytest.raises(ValueError, match='data_batch_1 is not the official'):
        LocalCIFAR10(data_root=str(tmp_path), split='train')
    with pytest.raises(ValueError, match='never downloads'):
        LocalCIFAR10(data_root=str(tmp_path), download=True)
    (tmp_path / 'cifar-10-batches-py' / 'test_batch').unlink()
    with pytest.raises(FileNotFoundError, match='test_batch'):
        LocalCIFAR10(data_root=str(tmp_path), split='test', verify_md5=False)
