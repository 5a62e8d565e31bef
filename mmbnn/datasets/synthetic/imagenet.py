"""Generated single-object images in ImageNet's class-folder layout."""
import os
import os.path as osp
from typing import Dict

from .scene import (MAX_CLASSES, SHAPES, draw_single_object, image_rng,
                    progress_bar)


def imagenet_wnid(class_index: int) -> str:
    """Folder name of a synthetic class, in the ImageNet ``nXXXXXXXX`` form."""
    return f'n{90000000 + class_index:08d}'


def generate_imagenet(out_dir: str, num_train_per_class: int = 50,
                      num_val_per_class: int = 10, image_size: int = 64,
                      num_classes: int = 10, seed: int = 0,
                      progress: bool = True) -> Dict[str, int]:
    """Write ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` class folders.

    One object per image covering most of it; ``synset_mapping.txt`` maps
    each wnid to its shape family's name (as ``LOC_synset_mapping.txt``
    does).
    """
    if not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f'num_classes must be in [1, {MAX_CLASSES}], got '
                         f'{num_classes}')
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'synset_mapping.txt'), 'w') as f:
        for c in range(num_classes):
            f.write(f'{imagenet_wnid(c)} {SHAPES[c]}\n')
    written = {}
    for split, per_class in (('train', num_train_per_class),
                             ('val', num_val_per_class)):
        jobs = [(c, i) for c in range(num_classes) for i in range(per_class)]
        for c, i in progress_bar(jobs, f'ImageNet {split}', progress):
            rng = image_rng(seed, split, c * 1_000_003 + i)
            folder = osp.join(out_dir, split, imagenet_wnid(c))
            os.makedirs(folder, exist_ok=True)
            img = draw_single_object(rng, image_size, c)
            img.save(osp.join(folder, f'{imagenet_wnid(c)}_{i + 1}.JPEG'),
                     quality=92)
        written[split] = len(jobs)
    return written
