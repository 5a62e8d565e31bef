"""The generated scenes in COCO's layout."""
import json
import os
import os.path as osp
from typing import Dict, Tuple

from .scene import (MAX_CLASSES, check_num_classes, draw_scene, image_rng,
                    jittered_size, progress_bar)


def coco_class_names() -> Tuple[str, ...]:
    from mmdet.datasets import CocoDataset
    return tuple(CocoDataset.METAINFO['classes'])


def generate_coco(out_dir: str, num_train: int = 200, num_val: int = 100,
                  image_size: int = 320, num_classes: int = MAX_CLASSES,
                  max_objects: int = 6, seed: int = 0,
                  progress: bool = True) -> Dict[str, int]:
    """Write ``annotations/instances_{train,val}2017.json`` and image folders.

    All 80 COCO categories are declared (ids 1..80, names as mmdet's
    ``CocoDataset``); objects use the first ``num_classes`` (at most the
    generator's ``MAX_CLASSES`` shape families). Each annotation
    carries its outline polygon as ``segmentation``, ``bbox`` (xywh),
    ``area`` (the pixels painted: an outline or a hole paints fewer than its
    polygon holds) and ``iscrowd`` 0; difficult objects are kept as ordinary ones.
    """
    names = coco_class_names()
    check_num_classes(num_classes, names)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(names)]
    written = {}
    ann_id = 1
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        for i in progress_bar(range(count), f'COCO {split}', progress):
            rng = image_rng(seed, split, i)
            width, height = jittered_size(rng, image_size)
            img, objects = draw_scene(rng, width, height, num_classes,
                                      max_objects)
            img_id = i + 1
            file_name = f'{img_id:012d}.jpg'
            img.save(osp.join(out_dir, split, file_name), quality=92)
            images.append(dict(id=img_id, file_name=file_name, width=width,
                               height=height, license=1))
            for obj in objects:
                x0, y0, x1, y1 = obj.box
                annotations.append(
                    dict(id=ann_id, image_id=img_id, category_id=obj.label + 1,
                         bbox=[x0, y0, x1 - x0, y1 - y0],
                         area=obj.area, iscrowd=0,
                         segmentation=[[round(v, 2) for v in
                                        obj.polygon.reshape(-1).tolist()]]))
                ann_id += 1
        dataset = dict(
            info=dict(description='mmbnn synthetic scenes', version='1.0',
                      year=2017, contributor='mmbnn', date_created=''),
            licenses=[dict(id=1, name='generated', url='')],
            images=images, annotations=annotations, categories=categories)
        with open(osp.join(out_dir, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(dataset, f)
        written[split] = count
    return written
