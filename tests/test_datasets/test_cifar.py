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


def _rewrite(path, change):
    import pickle
    with open(path, 'rb') as f:
        entry = pickle.load(f, encoding='latin1')
    with open(path, 'wb') as f:
        pickle.dump(change(entry), f, protocol=2)


def test_local_cifar10_images_and_labels_are_the_files_rows(tmp_path):
    import pickle

    import numpy as np

    from mmbnn.datasets import LocalCIFAR10, generate_cifar10
    generate_cifar10(str(tmp_path), num_train=12, num_test=4, progress=False)
    folder = tmp_path / 'cifar-10-batches-py'
    rows, labels = [], []
    for b in range(1, 6):
        with open(folder / f'data_batch_{b}', 'rb') as f:
            entry = pickle.load(f, encoding='latin1')
        rows.append(entry['data'])
        labels += entry['labels']
    rows = np.concatenate(rows)
    data = LocalCIFAR10(data_root=str(tmp_path), split='train',
                        verify_md5=False)
    assert [data.get_data_info(i)['gt_label'] for i in range(12)] == labels
    for i in (0, 7, 11):  # R, G, B planes of 32 x 32 -> HWC
        np.testing.assert_array_equal(data.get_data_info(i)['img'],
                                      rows[i].reshape(3, 32, 32).transpose(
                                          1, 2, 0))


@pytest.mark.parametrize('change,message', [
    (lambda e: {k.encode(): v for k, v in e.items()},
     r"data_batch_2: its dict keys are bytes"),
    (lambda e: {k: v for k, v in e.items() if k != 'data'},
     r"data_batch_2: the batch dict has no 'data' entry \(keys: batch_label, "
     r"filenames, labels\)"),
    (lambda e: {k: v for k, v in e.items() if k != 'labels'},
     r"data_batch_2: the batch dict has no 'fine_labels' entry"),
    (lambda e: dict(e, data=e['data'][:, :3000]),
     r'data_batch_2: data must be N x 3072 uint8 rows .* got uint8 \(2, 3000\)'),
    (lambda e: dict(e, labels=e['labels'][:1]),
     r'data_batch_2: 2 images but 1 labels'),
    (lambda e: [e], r'data_batch_2: expected a pickled dict, got list'),
])
def test_a_malformed_batch_file_is_named_with_what_is_wrong(
        tmp_path, change, message):
    from mmbnn.datasets import LocalCIFAR10, generate_cifar10
    generate_cifar10(str(tmp_path), num_train=10, num_test=5, progress=False)
    _rewrite(tmp_path / 'cifar-10-batches-py' / 'data_batch_2', change)
    with pytest.raises(ValueError, match=message):
        LocalCIFAR10(data_root=str(tmp_path), split='train', verify_md5=False)
    # The other split does not read that file.
    assert len(LocalCIFAR10(data_root=str(tmp_path), split='test',
                            verify_md5=False)) == 5


def test_a_truncated_batch_file_is_named(tmp_path):
    from mmbnn.datasets import LocalCIFAR10, generate_cifar10
    generate_cifar10(str(tmp_path), num_train=10, num_test=5, progress=False)
    folder = tmp_path / 'cifar-10-batches-py'
    whole = (folder / 'test_batch').read_bytes()
    (folder / 'test_batch').write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ValueError, match=r'test_batch is not a readable '
                       r'CIFAR pickle \(.*Error'):
        LocalCIFAR10(data_root=str(tmp_path), split='test', verify_md5=False)
