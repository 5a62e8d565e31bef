"""mmbnn/datasets/synthetic: the generated sets in the real on-disk formats,
read by the stock readers; deterministic per seed."""
import hashlib
import json
import os
import os.path as osp
import xml.etree.ElementTree as ET
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from mmbnn.datasets import synthetic


def _voc_truth(voc_root, year, split):
    """Independent parse of the written XML files: (ids, boxes per image)."""
    base = osp.join(voc_root, 'VOCdevkit', year)
    with open(osp.join(base, 'ImageSets', 'Main', f'{split}.txt')) as f:
        ids = f.read().split()
    truth = {}
    for img_id in ids:
        root = ET.parse(osp.join(base, 'Annotations', f'{img_id}.xml')).getroot()
        truth[img_id] = [
            (o.findtext('name'), int(o.findtext('difficult')),
             [int(o.find('bndbox').findtext(k))
              for k in ('xmin', 'ymin', 'xmax', 'ymax')])
            for o in root.findall('object')]
    return ids, truth


@pytest.mark.parametrize('year,split', [('VOC2007', 'trainval'),
                                        ('VOC2007', 'test'),
                                        ('VOC2012', 'trainval')])
def test_stock_voc_dataset_reads_generated_voc(voc_root, year, split):
    from mmdet.datasets import VOCDataset
    ids, truth = _voc_truth(voc_root, year, split)
    ds = VOCDataset(data_root=osp.join(voc_root, 'VOCdevkit'),
                    ann_file=f'{year}/ImageSets/Main/{split}.txt',
                    data_prefix=dict(sub_data_root=f'{year}/'),
                    test_mode=True, pipeline=[])
    assert len(ds) == len(ids) > 0
    classes = ds.metainfo['classes']
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        expected = truth[info['img_id']]
        assert osp.isfile(info['img_path'])
        with Image.open(info['img_path']) as img:
            assert img.size == (info['width'], info['height'])
        assert len(info['instances']) == len(expected)
        for inst, (name, difficult, box) in zip(info['instances'], expected):
            assert classes[inst['bbox_label']] == name
            assert inst['ignore_flag'] == difficult
            # mmdet converts VOC's 1-based coordinates by subtracting one.
            assert inst['bbox'] == [v - 1 for v in box]
            x0, y0, x1, y1 = inst['bbox']
            assert 0 <= x0 <= x1 < info['width'] and 0 <= y0 <= y1 < info['height']


def test_voc_layout_and_class_lists(voc_root):
    main = osp.join(voc_root, 'VOCdevkit', 'VOC2007', 'ImageSets', 'Main')
    with open(osp.join(main, 'trainval.txt')) as f:
        trainval = f.read().split()
    with open(osp.join(main, 'train.txt')) as f:
        train = f.read().split()
    with open(osp.join(main, 'val.txt')) as f:
        val = f.read().split()
    assert sorted(train + val) == sorted(trainval)
    _, truth = _voc_truth(voc_root, 'VOC2007', 'trainval')
    with open(osp.join(main, 'aeroplane_trainval.txt')) as f:
        rows = dict(line.split() for line in f)
    for img_id, objects in truth.items():
        flags = [d for n, d, _ in objects if n == 'aeroplane']
        expected = -1 if not flags else (1 if 0 in flags else 0)
        assert int(rows[img_id]) == expected


def test_stock_coco_dataset_reads_generated_coco(coco_root):
    from mmdet.datasets import CocoDataset
    for split in ('train2017', 'val2017'):
        ann_file = osp.join(coco_root, 'annotations', f'instances_{split}.json')
        with open(ann_file) as f:
            raw = json.load(f)
        assert {'info', 'images', 'categories', 'annotations'} <= set(raw)
        ids = [a['id'] for a in raw['annotations']]
        assert len(ids) == len(set(ids))
        ds = CocoDataset(data_root=coco_root,
                         ann_file=f'annotations/instances_{split}.json',
                         data_prefix=dict(img=f'{split}/'), test_mode=True,
                         pipeline=[])
        assert len(ds) == len(raw['images'])
        names = {c['id']: c['name'] for c in raw['categories']}
        expected = Counter(names[a['category_id']] for a in raw['annotations'])
        got = Counter(ds.metainfo['classes'][inst['bbox_label']]
                      for i in range(len(ds))
                      for inst in ds.get_data_info(i)['instances'])
        assert got == expected and sum(got.values()) > 0
        by_image = {img['id']: img for img in raw['images']}
        for ann in raw['annotations']:
            x, y, w, h = ann['bbox']
            img = by_image[ann['image_id']]
            assert 0 <= x and x + w <= img['width'] and 0 <= y
            assert y + h <= img['height']
            assert 0 < ann['area'] <= w * h


def test_coco_metric_scores_ground_truth_as_perfect(coco_root):
    """The generated json is complete enough for pycocotools' evaluation."""
    import torch
    from mmdet.evaluation import CocoMetric
    ann_file = osp.join(coco_root, 'annotations', 'instances_val2017.json')
    with open(ann_file) as f:
        raw = json.load(f)
    metric = CocoMetric(ann_file=ann_file, metric='bbox')
    from mmdet.datasets import CocoDataset
    metric.dataset_meta = CocoDataset.METAINFO
    cat_ids = [c['id'] for c in raw['categories']]
    for img in raw['images']:
        anns = [a for a in raw['annotations'] if a['image_id'] == img['id']]
        boxes = torch.tensor([[a['bbox'][0], a['bbox'][1],
                               a['bbox'][0] + a['bbox'][2],
                               a['bbox'][1] + a['bbox'][3]] for a in anns],
                             dtype=torch.float32).reshape(-1, 4)
        pred = dict(bboxes=boxes, scores=torch.ones(len(anns)),
                    labels=torch.tensor([cat_ids.index(a['category_id'])
                                         for a in anns], dtype=torch.long))
        metric.process({}, [dict(img_id=img['id'], pred_instances=pred,
                                 ori_shape=(img['height'], img['width']))])
    results = metric.evaluate(len(raw['images']))
    assert results['coco/bbox_mAP_50'] == pytest.approx(1.0)


def test_imagenet_class_folders(tmp_path):
    from torchvision.datasets import ImageFolder
    written = synthetic.generate_imagenet(str(tmp_path), num_train_per_class=3,
                                          num_val_per_class=2, image_size=32,
                                          num_classes=4, progress=False)
    assert written == {'train': 12, 'val': 8}
    train = ImageFolder(str(tmp_path / 'train'))
    assert train.classes == [synthetic.imagenet_wnid(c) for c in range(4)]
    assert Counter(train.targets) == {c: 3 for c in range(4)}
    assert all(p.endswith('.JPEG') for p, _ in train.samples)
    with open(tmp_path / 'synset_mapping.txt') as f:
        assert f.readline().split()[0] == synthetic.imagenet_wnid(0)


def _tree_digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            h.update(name.encode())
            with open(osp.join(dirpath, name), 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def test_generation_is_deterministic_and_seeded(tmp_path):
    kwargs = dict(num_trainval=3, num_test=2, num_trainval_2012=0,
                  image_size=96, num_classes=4, progress=False)
    synthetic.generate_voc(str(tmp_path / 'a'), seed=5, **kwargs)
    synthetic.generate_voc(str(tmp_path / 'b'), seed=5, **kwargs)
    synthetic.generate_voc(str(tmp_path / 'c'), seed=6, **kwargs)
    assert _tree_digest(tmp_path / 'a') == _tree_digest(tmp_path / 'b')
    assert _tree_digest(tmp_path / 'a') != _tree_digest(tmp_path / 'c')
    assert not (tmp_path / 'a' / 'VOCdevkit' / 'VOC2012').exists()


def _pixels(paths):
    return {hashlib.sha256(np.asarray(Image.open(p)).tobytes()).hexdigest()
            for p in paths}


def test_splits_share_no_image(tmp_path):
    """A test split that repeats training images measures memorization, not
    learning: no image of one split may appear in another, in any format."""
    import pickle
    from glob import glob
    synthetic.generate_cifar10(str(tmp_path / 'cifar'), num_train=40,
                               num_test=20, progress=False)
    folder = tmp_path / 'cifar' / 'cifar-10-batches-py'
    rows = {}
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        with open(folder / name, 'rb') as f:
            data = pickle.load(f, encoding='latin1')['data']
        split = 'test' if name == 'test_batch' else 'train'
        rows.setdefault(split, set()).update(r.tobytes() for r in data)
    assert len(rows['train']) == 40 and len(rows['test']) == 20
    assert not rows['train'] & rows['test']
    synthetic.generate_voc(str(tmp_path / 'voc'), num_trainval=6, num_test=6,
                           num_trainval_2012=6, image_size=64, num_classes=4,
                           progress=False)
    voc = tmp_path / 'voc' / 'VOCdevkit'
    sets = [_pixels(glob(str(voc / year / 'JPEGImages' / '*.jpg')))
            for year in ('VOC2007', 'VOC2012')]
    assert len(sets[0]) == 12 and len(sets[1]) == 6 and not sets[0] & sets[1]
    synthetic.generate_imagenet(str(tmp_path / 'in'), num_train_per_class=4,
                                num_val_per_class=4, image_size=32,
                                num_classes=3, progress=False)
    train = _pixels(glob(str(tmp_path / 'in' / 'train' / '*' / '*.JPEG')))
    val = _pixels(glob(str(tmp_path / 'in' / 'val' / '*' / '*.JPEG')))
    assert len(train) == len(val) == 12 and not train & val


def test_families_fill_their_boxes_rotated_and_mirrored():
    assert len(set(synthetic.SHAPES)) == synthetic.MAX_CLASSES == 20
    rng = np.random.default_rng(0)
    for shape in synthetic.SHAPES:
        for rotation, mirror in ((0, False), (17, True), (-20, False)):
            poly = synthetic.polygon_in_box(shape, (10, 20, 50, 40), rotation,
                                            mirror, rng=rng)
            np.testing.assert_allclose(poly.min(0), [10, 20])
            np.testing.assert_allclose(poly.max(0), [50, 40])
    square = synthetic.polygon_in_box('rectangle', (0, 0, 4, 3))
    assert synthetic.polygon_area(square) == pytest.approx(12.0)
    tri = synthetic.polygon_in_box('triangle', (0, 0, 4, 3))
    assert synthetic.polygon_area(tri) == pytest.approx(6.0)
    # A square turned by 45 degrees is a diamond: rotation acts.
    turned = synthetic.polygon_in_box('rectangle', (0, 0, 2, 2), rotation=45)
    assert synthetic.polygon_area(turned) == pytest.approx(2.0)
    # Mirroring an L puts its upright on the other side.
    left = synthetic.polygon_in_box('l_shape', (0, 0, 1, 1))
    right = synthetic.polygon_in_box('l_shape', (0, 0, 1, 1), mirror=True)
    np.testing.assert_allclose(sorted(map(tuple, right * [-1, 1] + [1, 0])),
                               sorted(map(tuple, left)), atol=1e-12)
    assert left[:, 0].mean() < 0.5 < right[:, 0].mean()


def _object_colours(num_scenes, num_classes, seed=0):
    """Mean colour and label of every visible, not difficult object."""
    rng = np.random.default_rng(seed)
    colours, labels, styles = [], [], Counter()
    for _ in range(num_scenes):
        img, objects = synthetic.draw_scene(rng, 160, 160, num_classes)
        pixels = np.asarray(img, dtype=np.float64)
        for obj in objects:
            styles[obj.style] += 1
            if obj.difficult:
                continue
            x0, y0, x1, y1 = obj.box
            mask = np.zeros(pixels.shape[:2], bool)
            mask[y0:y1, x0:x1] = True
            colours.append(pixels[mask].mean(0))
            labels.append(obj.label)
    return np.asarray(colours), np.asarray(labels), styles


def test_an_objects_colour_does_not_tell_its_class():
    """Nearest class mean of the objects' mean box colours, 6 classes: 16%
    on 215 held-out objects (chance 17%); the generator of before (a colour
    per class) gave 94%."""
    from mmbnn.datasets.shortcuts import nearest_centroid_accuracy
    x, y, styles = _object_colours(150, 6, seed=0)
    xv, yv, _ = _object_colours(60, 6, seed=1)
    assert nearest_centroid_accuracy(x, y, xv, yv) < 0.3
    # Every fill style occurs (filled, outline, with a hole).
    assert set(styles) == set(synthetic.scene.STYLES) and min(
        styles.values()) > 20


def test_scenes_vary_and_mark_difficult_objects():
    rng = np.random.default_rng(0)
    counts, difficult, sides = [], 0, []
    for _ in range(60):
        _, objects = synthetic.draw_scene(rng, 200, 160, num_classes=8)
        counts.append(len(objects))
        difficult += sum(o.difficult for o in objects)
        sides += [o.box[2] - o.box[0] for o in objects]
    assert min(counts) >= 1 and max(counts) == 6
    assert 0 < difficult < sum(counts) / 2
    assert max(sides) > 4 * min(sides)


def test_bad_generator_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_classes'):
        synthetic.generate_voc(str(tmp_path), num_classes=21, progress=False)
    with pytest.raises(ValueError, match='unknown dataset kind'):
        synthetic.generate('kitti', str(tmp_path))


def test_cifar10_files_have_the_real_python_format(tmp_path):
    import pickle

    from mmbnn.datasets import generate_cifar10
    generate_cifar10(str(tmp_path), num_train=23, num_test=7, seed=1,
                     progress=False)
    folder = tmp_path / 'cifar-10-batches-py'
    sizes = []
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        with open(folder / name, 'rb') as f:
            entry = pickle.load(f, encoding='latin1')  # how readers open them
        assert entry['data'].dtype == np.uint8 and entry['data'].shape[1] == 3072
        assert len(entry['labels']) == len(entry['data']) == len(entry['filenames'])
        assert all(0 <= label < 10 for label in entry['labels'])
        sizes.append(len(entry['data']))
    assert sum(sizes[:5]) == 23 and sizes[5] == 7
    with open(folder / 'batches.meta', 'rb') as f:
        meta = pickle.load(f, encoding='latin1')
    assert len(meta['label_names']) == 10 == len(set(meta['label_names']))
    # Row layout: R, G, B planes of 32x32; an object's colour dominates.
    with open(folder / 'data_batch_1', 'rb') as f:
        entry = pickle.load(f, encoding='latin1')
    img = entry['data'][0].reshape(3, 32, 32)
    assert img.std() > 10  # not blank
