"""Generated single-object images in CIFAR-10's python-pickle layout."""
import os
import os.path as osp
import pickle
from typing import Dict

import numpy as np

from .scene import SHAPES, draw_single_object, image_rng, progress_bar

CIFAR10_BATCHES = 5


def generate_cifar10(out_dir: str, num_train: int = 5000, num_test: int = 1000,
                     seed: int = 0, progress: bool = True) -> Dict[str, int]:
    """Write CIFAR-10's python version under ``out_dir/cifar-10-batches-py``.

    As in the real files: five training batches and ``test_batch``, each a
    pickled dict with ``data`` (uint8, one row of R, G and B 32x32 planes per
    image), ``labels``, ``batch_label`` and ``filenames``; ``batches.meta``
    holds ``label_names``. Ten classes, one object per image.
    """
    folder = osp.join(out_dir, 'cifar-10-batches-py')
    os.makedirs(folder, exist_ok=True)
    names = list(SHAPES[:10])

    def dump(obj, name):
        with open(osp.join(folder, name), 'wb') as f:
            pickle.dump(obj, f, protocol=2)

    def images(split, count):
        jobs = list(range(count))
        labels = [i % 10 for i in jobs]
        rows = [np.asarray(draw_single_object(
            image_rng(seed, f'cifar10{split}', i), 32, labels[i])).transpose(
                2, 0, 1).ravel()
            for i in progress_bar(jobs, f'CIFAR-10 {split}', progress)]
        data = np.stack(rows).astype(np.uint8) if rows else np.zeros(
            (0, 3072), np.uint8)
        return data, labels

    data, labels = images('train', num_train)
    per_batch = -(-num_train // CIFAR10_BATCHES)
    for b in range(CIFAR10_BATCHES):
        part = slice(b * per_batch, (b + 1) * per_batch)
        dump({'batch_label': f'training batch {b + 1} of 5', 'data': data[part],
              'labels': labels[part],
              'filenames': [f'train_{i}.png' for i in range(num_train)][part]},
             f'data_batch_{b + 1}')
    data, labels = images('test', num_test)
    dump({'batch_label': 'testing batch 1 of 1', 'data': data, 'labels': labels,
          'filenames': [f'test_{i}.png' for i in range(num_test)]}, 'test_batch')
    dump({'label_names': names, 'num_cases_per_batch': per_batch,
          'num_vis': 3072}, 'batches.meta')
    return dict(train=num_train, test=num_test)
