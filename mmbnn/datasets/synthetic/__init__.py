"""Seeded generator of synthetic detection and classification data.

Nothing can be downloaded here, so the built-in default data is drawn: scenes
of shapes (a class is a shape family; colour, texture, fill style, size,
aspect and rotation are drawn per object, independent of the class) on
textured, cluttered backgrounds with distractor shapes of no class, several
objects per image at VOC-like sizes, some overlapping or partly hidden by
distractors; heavily occluded or tiny objects are marked ``difficult``. The
output is written in exactly the on-disk formats of the real datasets, so the stock
``VOCDataset``, ``CocoDataset`` and class-folder readers load it unchanged:

- VOC: ``VOCdevkit/VOC2007`` (trainval/test) and ``VOCdevkit/VOC2012``
  (trainval), ``JPEGImages``, ``Annotations`` (XML, 1-based inclusive boxes)
  and ``ImageSets/Main`` (split lists and per-class lists);
- COCO: ``annotations/instances_{train,val}2017.json`` and ``{train,val}2017``;
- ImageNet: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG``, one object
  covering most of each image;
- CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``
  (the python-pickle version: uint8 rows of 3x32x32 planes, 10 classes).

Every image is drawn from its own generator seeded by ``(seed, split, index)``,
so the output does not depend on the order or number of images asked for.
"""
from typing import Dict

from .cifar10 import generate_cifar10
from .coco import coco_class_names, generate_coco
from .imagenet import generate_imagenet, imagenet_wnid
from .scene import (MAX_CLASSES, SHAPES, draw_scene, draw_single_object,
                    polygon_area, polygon_in_box)
from .voc import generate_voc, voc_class_names

__all__ = ['MAX_CLASSES', 'SHAPES', 'coco_class_names', 'draw_scene',
           'draw_single_object', 'generate', 'generate_cifar10', 'generate_coco',
           'generate_imagenet', 'generate_voc', 'imagenet_wnid',
           'polygon_area', 'polygon_in_box', 'voc_class_names']


def generate(kind: str, out_dir: str, **kwargs) -> Dict[str, int]:
    """Dispatch to ``generate_{voc,coco,imagenet,cifar10}``."""
    makers = dict(voc=generate_voc, coco=generate_coco,
                  imagenet=generate_imagenet, cifar10=generate_cifar10)
    if kind not in makers:
        raise ValueError(f'unknown dataset kind {kind!r}; choose from '
                         f'{sorted(makers)}')
    return makers[kind](out_dir, **kwargs)
