"""Seeded generator of synthetic detection and classification data.

Nothing can be downloaded here, so the built-in default data is drawn: scenes
of coloured polygons (one shape/colour pair per class) on textured
backgrounds, several objects per image, varied scale and aspect ratio, some
overlap, heavily occluded or tiny objects marked ``difficult``. The output is
written in exactly the on-disk formats of the real datasets, so the stock
``VOCDataset``, ``CocoDataset`` and class-folder readers load it unchanged:

- VOC: ``VOCdevkit/VOC2007`` (trainval/test) and ``VOCdevkit/VOC2012``
  (trainval), ``JPEGImages``, ``Annotations`` (XML, 1-based inclusive boxes)
  and ``ImageSets/Main`` (split lists and per-class lists);
- COCO: ``annotations/instances_{train,val}2017.json`` and ``{train,val}2017``;
- ImageNet: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG``, one centred
  object per image;
- CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``
  (the python-pickle version: uint8 rows of 3x32x32 planes, 10 classes).

Every image is drawn from its own generator seeded by ``(seed, split, index)``,
so the output does not depend on the order or number of images asked for.
"""
import json
import math
import os
import os.path as osp
import pickle
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

SHAPES = ('rectangle', 'ellipse', 'triangle', 'diamond', 'hexagon', 'star',
          'cross', 'arrow')
COLOURS = {
    'red': (220, 30, 30),
    'green': (30, 180, 40),
    'blue': (30, 60, 220),
    'yellow': (235, 215, 30),
    'magenta': (210, 40, 200),
    'cyan': (30, 200, 210),
    'orange': (245, 130, 20),
    'white': (245, 245, 245),
    'black': (15, 15, 15),
    'purple': (110, 40, 160),
}
MAX_CLASSES = len(SHAPES) * len(COLOURS)

# An object hidden this much by later objects, or this small, is "difficult",
# which VOC evaluation ignores (neither a hit nor a miss).
DIFFICULT_VISIBLE_FRACTION = 0.4
DIFFICULT_MIN_SIDE = 10


def appearance(class_index: int) -> Tuple[str, str]:
    """Shape and colour name of a class; distinct for the first 80 classes.

    Shape varies fastest and colour is shifted per row so that the first
    eight classes differ in both shape and colour.
    """
    if not 0 <= class_index < MAX_CLASSES:
        raise ValueError(f'class index {class_index} outside [0, {MAX_CLASSES})')
    shape = class_index % len(SHAPES)
    row = class_index // len(SHAPES)
    colour = (shape + 9 * row) % len(COLOURS)
    return SHAPES[shape], list(COLOURS)[colour]


def _unit_polygon(shape: str) -> np.ndarray:
    """Vertices of a shape in arbitrary units; later mapped onto its box."""
    if shape == 'rectangle':
        pts = [(0, 0), (1, 0), (1, 1), (0, 1)]
    elif shape == 'ellipse':
        a = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([np.cos(a), np.sin(a)], 1)
    elif shape == 'triangle':
        pts = [(0.5, 0), (1, 1), (0, 1)]
    elif shape == 'diamond':
        pts = [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)]
    elif shape == 'hexagon':
        pts = [(0.25, 0), (0.75, 0), (1, 0.5), (0.75, 1), (0.25, 1), (0, 0.5)]
    elif shape == 'star':
        a = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        pts = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    elif shape == 'cross':
        t, u = 0.33, 0.67
        pts = [(t, 0), (u, 0), (u, t), (1, t), (1, u), (u, u), (u, 1), (t, 1),
               (t, u), (0, u), (0, t), (t, t)]
    elif shape == 'arrow':
        pts = [(0, 0.3), (0.55, 0.3), (0.55, 0), (1, 0.5), (0.55, 1),
               (0.55, 0.7), (0, 0.7)]
    else:
        raise ValueError(f'unknown shape {shape!r}; known: {SHAPES}')
    return np.asarray(pts, dtype=np.float64)


def polygon_in_box(shape: str, box: Sequence[float]) -> np.ndarray:
    """Vertices of ``shape`` whose extent is exactly ``box`` (x0, y0, x1, y1)."""
    pts = _unit_polygon(shape)
    lo, hi = pts.min(0), pts.max(0)
    x0, y0, x1, y1 = box
    return (pts - lo) / (hi - lo) * [x1 - x0, y1 - y0] + [x0, y0]


def polygon_area(pts: np.ndarray) -> float:
    """Shoelace area of a simple polygon."""
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@dataclass
class SceneObject:
    label: int
    box: Tuple[int, int, int, int]  # x0, y0, x1, y1; pixels [x0, x1) x [y0, y1)
    polygon: np.ndarray
    difficult: bool


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Low-contrast texture: smooth colour noise, stripes and grain."""
    coarse = rng.uniform(70, 190, size=(rng.integers(3, 8), rng.integers(3, 8), 3))
    img = np.asarray(
        Image.fromarray(coarse.astype(np.uint8)).resize((width, height),
                                                        Image.BILINEAR),
        dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.03, 0.2)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq)
    img += stripes[..., None] * rng.uniform(5, 25)
    img += rng.normal(0, 6, size=img.shape)
    # Desaturate so that the objects' saturated colours stand out.
    grey = img.mean(2, keepdims=True)
    img = grey + (img - grey) * 0.5
    return img


def draw_scene(rng: np.random.Generator, width: int, height: int,
               num_classes: int, max_objects: int = 6,
               min_objects: int = 1) -> Tuple[Image.Image, List[SceneObject]]:
    """Draw one scene; returns the image and its objects in drawing order."""
    img = _background(rng, width, height)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    owner = np.full((height, width), -1, dtype=np.int32)
    short = min(width, height)
    objects, masks = [], []
    for idx in range(int(rng.integers(min_objects, max_objects + 1))):
        label = int(rng.integers(num_classes))
        shape, colour = appearance(label)
        scale = short * math.exp(rng.uniform(math.log(0.08), math.log(0.6)))
        aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        w = int(np.clip(round(scale * math.sqrt(aspect)), 6, width - 2))
        h = int(np.clip(round(scale / math.sqrt(aspect)), 6, height - 2))
        x0 = int(rng.integers(0, width - w + 1))
        y0 = int(rng.integers(0, height - h + 1))
        # Vertices at pixel centres, so the filled pixels span [x0, x0 + w).
        poly = polygon_in_box(shape, (x0, y0, x0 + w - 1, y0 + h - 1))
        rgb = np.clip(np.asarray(COLOURS[colour]) + rng.integers(-20, 21, 3), 0,
                      255)
        flat = [tuple(p) for p in poly.tolist()]
        draw.polygon(flat, fill=tuple(int(c) for c in rgb))
        mask = Image.new('L', (width, height), 0)
        ImageDraw.Draw(mask).polygon(flat, fill=1)
        masks.append(np.asarray(mask, dtype=bool))
        owner[masks[-1]] = idx
        objects.append(SceneObject(label, (x0, y0, x0 + w, y0 + h), poly, False))
    for idx, (obj, own) in enumerate(zip(objects, masks)):
        x0, y0, x1, y1 = obj.box
        visible = (owner[own] == idx).mean() if own.any() else 0.0
        obj.difficult = bool(visible < DIFFICULT_VISIBLE_FRACTION
                             or min(x1 - x0, y1 - y0) < DIFFICULT_MIN_SIDE)
    return canvas, objects


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    split_key = int.from_bytes(split.encode()[:8].ljust(8, b'\0'), 'little')
    return np.random.default_rng([seed, split_key, index])


def _image_size(rng: np.random.Generator, image_size: int) -> Tuple[int, int]:
    """Varied width and height around ``image_size`` (VOC images vary too)."""
    w = int(image_size * rng.uniform(0.8, 1.25))
    h = int(image_size * rng.uniform(0.8, 1.25))
    return w, h


def _progress(items, desc: str, progress: bool):
    return tqdm(items, desc=desc, unit='img', disable=not progress,
                dynamic_ncols=True)


def _check_classes(num_classes: int, names: Sequence[str]) -> None:
    if not 1 <= num_classes <= min(len(names), MAX_CLASSES):
        raise ValueError(f'num_classes must be in [1, {min(len(names), MAX_CLASSES)}]'
                         f', got {num_classes}')


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


def coco_class_names() -> Tuple[str, ...]:
    from mmdet.datasets import CocoDataset
    return tuple(CocoDataset.METAINFO['classes'])


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
    _check_classes(num_classes, names)
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
            for i in _progress(range(count), f'{year} {split}', progress):
                rng = _image_rng(seed, f'{year}{split}', i)
                width, height = _image_size(rng, image_size)
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


def generate_coco(out_dir: str, num_train: int = 200, num_val: int = 100,
                  image_size: int = 320, num_classes: int = 80,
                  max_objects: int = 6, seed: int = 0,
                  progress: bool = True) -> Dict[str, int]:
    """Write ``annotations/instances_{train,val}2017.json`` and image folders.

    All 80 COCO categories are declared (ids 1..80, names as mmdet's
    ``CocoDataset``); objects use the first ``num_classes``. Each annotation
    carries its polygon ``segmentation``, ``bbox`` (xywh), ``area`` (polygon
    area) and ``iscrowd`` 0; difficult objects are kept as ordinary ones.
    """
    names = coco_class_names()
    _check_classes(num_classes, names)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(names)]
    written = {}
    ann_id = 1
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        for i in _progress(range(count), f'COCO {split}', progress):
            rng = _image_rng(seed, split, i)
            width, height = _image_size(rng, image_size)
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
                         area=round(polygon_area(obj.polygon), 2), iscrowd=0,
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


def imagenet_wnid(class_index: int) -> str:
    """Folder name of a synthetic class, in the ImageNet ``nXXXXXXXX`` form."""
    return f'n{90000000 + class_index:08d}'


def generate_imagenet(out_dir: str, num_train_per_class: int = 50,
                      num_val_per_class: int = 10, image_size: int = 64,
                      num_classes: int = 10, seed: int = 0,
                      progress: bool = True) -> Dict[str, int]:
    """Write ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` class folders.

    One object per image covering most of it; ``synset_mapping.txt`` maps
    each wnid to its shape/colour name (as ``LOC_synset_mapping.txt`` does).
    """
    if not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f'num_classes must be in [1, {MAX_CLASSES}], got '
                         f'{num_classes}')
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'synset_mapping.txt'), 'w') as f:
        for c in range(num_classes):
            f.write(f'{imagenet_wnid(c)} {"-".join(appearance(c)[::-1])}\n')
    written = {}
    for split, per_class in (('train', num_train_per_class),
                             ('val', num_val_per_class)):
        jobs = [(c, i) for c in range(num_classes) for i in range(per_class)]
        for c, i in _progress(jobs, f'ImageNet {split}', progress):
            rng = _image_rng(seed, split, c * 1_000_003 + i)
            folder = osp.join(out_dir, split, imagenet_wnid(c))
            os.makedirs(folder, exist_ok=True)
            img = _single_object(rng, image_size, c)
            img.save(osp.join(folder, f'{imagenet_wnid(c)}_{i + 1}.JPEG'),
                     quality=92)
        written[split] = len(jobs)
    return written


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
    names = ['-'.join(appearance(c)[::-1]) for c in range(10)]

    def dump(obj, name):
        with open(osp.join(folder, name), 'wb') as f:
            pickle.dump(obj, f, protocol=2)

    def images(split, count):
        jobs = list(range(count))
        labels = [i % 10 for i in jobs]
        rows = [np.asarray(_single_object(
            _image_rng(seed, f'cifar10{split}', i), 32, labels[i])).transpose(
                2, 0, 1).ravel()
            for i in _progress(jobs, f'CIFAR-10 {split}', progress)]
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


def _single_object(rng: np.random.Generator, size: int,
                   label: int) -> Image.Image:
    img = _background(rng, size, size)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    shape, colour = appearance(label)
    side = rng.uniform(0.5, 0.9) * size
    aspect = math.exp(rng.uniform(math.log(0.7), math.log(1.4)))
    w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
    w, h = min(w, size - 2), min(h, size - 2)
    x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - h)
    poly = polygon_in_box(shape, (x0, y0, x0 + w, y0 + h))
    rgb = np.clip(np.asarray(COLOURS[colour]) + rng.integers(-20, 21, 3), 0, 255)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in poly.tolist()],
                                   fill=tuple(int(c) for c in rgb))
    return canvas


def generate(kind: str, out_dir: str, **kwargs) -> Dict[str, int]:
    """Dispatch to ``generate_{voc,coco,imagenet,cifar10}``."""
    makers = dict(voc=generate_voc, coco=generate_coco,
                  imagenet=generate_imagenet, cifar10=generate_cifar10)
    if kind not in makers:
        raise ValueError(f'unknown dataset kind {kind!r}; choose from '
                         f'{sorted(makers)}')
    return makers[kind](out_dir, **kwargs)


# The built-in demo's data set (tools/demo.py, tools/benchmarks/ablation.py).
DEMO_VOC = dict(num_trainval=300, num_test=150, num_trainval_2012=100,
                image_size=240, num_classes=6, seed=0)


# The demo's ImageNet-layout set for binary backbone pretraining.
DEMO_IMAGENET = dict(num_train_per_class=100, num_val_per_class=20,
                     image_size=64, num_classes=10, seed=0)


def ensure_imagenet(out_dir: str, **kwargs) -> bool:
    """Write the ImageNet-layout set under ``out_dir`` unless it is there;
    returns whether it wrote it."""
    if osp.isfile(osp.join(out_dir, 'synset_mapping.txt')) and osp.isdir(
            osp.join(out_dir, 'val')):
        return False
    print(f'generating the ImageNet-layout data set under {out_dir} ...',
          flush=True)
    generate_imagenet(out_dir, **kwargs)
    return True


def ensure_voc(out_dir: str, **kwargs) -> bool:
    """Write the VOC-format set under ``out_dir`` unless it is already there;
    returns whether it wrote it."""
    lists = osp.join(out_dir, 'VOCdevkit', '{}', 'ImageSets', 'Main', '{}.txt')
    done = [lists.format('VOC2007', 'test')]
    if kwargs.get('num_trainval_2012', 1):
        done.append(lists.format('VOC2012', 'trainval'))
    if all(osp.isfile(path) for path in done):
        return False
    print(f'generating the VOC-format data set under {out_dir} ...', flush=True)
    generate_voc(out_dir, **kwargs)
    return True

