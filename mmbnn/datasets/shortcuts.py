"""Shortcut baselines: how well a classifier that sees only one cue a real
task lacks (here colour) does on a data set. A generated set is honest
when such a baseline stays near chance while the real models learn
(docs/benchmarks.md, the demo section)."""
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png')


def colour_histograms(images: np.ndarray, bins: int = 4) -> np.ndarray:
    """Per image, the normalized joint RGB histogram with ``bins`` levels a
    channel (``bins ** 3`` cells): what colour an image holds and how much
    of it, nothing about where. ``images`` is uint8 (N, H, W, 3)."""
    levels = (images.astype(np.int64) * bins) // 256
    cells = (levels[..., 0] * bins + levels[..., 1]) * bins + levels[..., 2]
    cells = cells.reshape(len(images), -1)
    hist = np.zeros((len(images), bins ** 3))
    np.add.at(hist, (np.arange(len(images))[:, None], cells), 1.0)
    return hist / cells.shape[1]


def nearest_centroid_accuracy(train: np.ndarray, train_labels: np.ndarray,
                              test: np.ndarray,
                              test_labels: np.ndarray) -> float:
    """Top-1 (a fraction) of the nearest class mean (Euclidean) on ``test``."""
    classes = np.unique(train_labels)
    centroids = np.stack([train[train_labels == c].mean(0) for c in classes])
    dist = ((test[:, None, :] - centroids[None]) ** 2).sum(-1)
    return float((classes[dist.argmin(1)] == test_labels).mean())


def read_class_folders(root: str, size: int = 32) -> Tuple[np.ndarray,
                                                           np.ndarray]:
    """Images of ``root/<class>/*`` resized to ``size``, and their labels
    (class folders in sorted order, as mmpretrain's ``ImageNet`` reads them)."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'no class-folder directory {root}')
    classes = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
    images, labels = [], []
    for label, name in enumerate(classes):
        folder = osp.join(root, name)
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(IMAGE_EXTENSIONS):
                with Image.open(osp.join(folder, file)) as img:
                    images.append(np.asarray(
                        img.convert('RGB').resize((size, size),
                                                  Image.BILINEAR)))
                labels.append(label)
    if not images:
        raise ValueError(f'no images under {root}/<class>/')
    return np.stack(images), np.asarray(labels)


def colour_baseline(train_root: str, val_root: str,
                    bins: int = 4) -> Dict[str, float]:
    """Nearest-centroid top-1 on colour histograms, trained on the class
    folders under ``train_root`` and scored on ``val_root``; with chance
    (the most frequent validation class's share) beside it."""
    x, y = read_class_folders(train_root)
    xv, yv = read_class_folders(val_root)
    acc = nearest_centroid_accuracy(colour_histograms(x, bins), y,
                                    colour_histograms(xv, bins), yv)
    chance = float(np.bincount(yv).max() / len(yv))
    return dict(colour_top1=acc, chance=chance, num_train=len(y),
                num_val=len(yv), num_classes=int(len(np.unique(y))))


__all__: List[str] = ['colour_baseline', 'colour_histograms',
                      'nearest_centroid_accuracy', 'read_class_folders']
