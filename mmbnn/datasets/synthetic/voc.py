"""The generated scenes in Pascal VOC's layout."""
import os
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Sequence, Tuple

from .scene import (SceneObject, check_num_classes, draw_scene, image_rng,
                    jittered_size, progress_bar)


def _voc_xml(folder: str, filename: str, width: int, height: int,
             objects: List[SceneObject], names: Sequence[str]) -> ET.ElementTree:
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = folder
    ET.SubElement(root, 'filename').text = filename
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'database').text = 'mmbnn synthetic scenes'
    size = ET.SubElement(root, 'size')
    for key, value in (('width', width), ('height', height), ('depth', 3)):
        ET.SubElement(size, key).text = str(value)
    ET.SubElement(root, 'segmented').text = '0'
    for obj in objects:
        node = ET.SubElement(root, 'object')
        ET.SubElement(node, 'name').text = names[obj.label]
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = '0'
        ET.SubElement(node, 'difficult').text = str(int(obj.difficult))
        bndbox = ET.SubElement(node, 'bndbox')
        x0, y0, x1, y1 = obj.box
        # VOC boxes are 1-based and inclusive: pixels [x0, x1) -> x0+1 .. x1.
        for key, value in (('xmin', x0 + 1), ('ymin', y0 + 1), ('xmax', x1),
                           ('ymax', y1)):
            ET.SubElement(bndbox, key).text = str(value)
    ET.indent(root)
    return ET.ElementTree(root)


def voc_class_names() -> Tuple[str, ...]:
    from mmdet.datasets import VOCDataset
    return tuple(VOCDataset.METAINFO['classes'])


def generate_voc(out_dir: str, num_trainval: int = 200, num_test: int = 100,
                 num_trainval_2012: int = 100, image_size: int = 300,
                 num_classes: int = 20, max_objects: int = 6, seed: int = 0,
                 progress: bool = True) -> Dict[str, int]:
    """Write ``out_dir/VOCdevkit/VOC{2007,2012}`` in the Pascal VOC layout.

    VOC2007 gets ``trainval`` and ``test`` splits (``trainval`` also split
    into ``train``/``val``); VOC2012 gets ``trainval`` (as the real release,
    whose test annotations are not public). Objects use the first
    ``num_classes`` VOC class names. Returns the number of images written per
    ``<year>/<split>``.
    """
    names = voc_class_names()
    check_num_classes(num_classes, names)
    splits = {'VOC2007': {'trainval': num_trainval, 'test': num_test},
              'VOC2012': {'trainval': num_trainval_2012}}
    written = {}
    for year, year_splits in splits.items():
        if not any(year_splits.values()):
            continue
        base = osp.join(out_dir, 'VOCdevkit', year)
        for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
            os.makedirs(osp.join(base, sub), exist_ok=True)
        prefix = '' if year == 'VOC2007' else '2012_'
        offset = 0
        for split, count in year_splits.items():
            ids, present = [], []
            for i in progress_bar(range(count), f'{year} {split}', progress):
                rng = image_rng(seed, f'{year}{split}', i)
                width, height = jittered_size(rng, image_size)
                img, objects = draw_scene(rng, width, height, num_classes,
                                          max_objects)
                img_id = f'{prefix}{offset + i + 1:06d}'
                img.save(osp.join(base, 'JPEGImages', f'{img_id}.jpg'),
                         quality=92)
                _voc_xml(year, f'{img_id}.jpg', width, height, objects,
                         names).write(
                             osp.join(base, 'Annotations', f'{img_id}.xml'))
                ids.append(img_id)
                present.append({o.label: o.difficult for o in objects})
            offset += count
            written[f'{year}/{split}'] = count
            lists = {split: range(len(ids))}
            if split == 'trainval':
                half = len(ids) // 2
                lists.update(train=range(half), val=range(half, len(ids)))
            for name, rows in lists.items():
                _write_voc_lists(base, name, [ids[r] for r in rows],
                                 [present[r] for r in rows], names[:num_classes])
    return written


def _write_voc_lists(base: str, split: str, ids: List[str],
                     present: List[Dict[int, bool]],
                     names: Sequence[str]) -> None:
    """Split list and per-class lists (1 present, 0 only difficult, -1 absent)."""
    main = osp.join(base, 'ImageSets', 'Main')
    with open(osp.join(main, f'{split}.txt'), 'w') as f:
        f.writelines(f'{i}\n' for i in ids)
    for label, name in enumerate(names):
        with open(osp.join(main, f'{name}_{split}.txt'), 'w') as f:
            for img_id, labels in zip(ids, present):
                flag = -1 if label not in labels else (0 if labels[label] else 1)
                f.write(f'{img_id} {flag:2d}\n')
