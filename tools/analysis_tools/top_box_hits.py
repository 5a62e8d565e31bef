"""Count the images whose top-scoring detection lies on an object: IoU >=
0.5 with a ground-truth box of a VOC-layout set (any class, and the same
class), from the predictions ``tools/test.py --out PRED.pkl`` dumped.

    python tools/analysis_tools/top_box_hits.py PRED.pkl [--iou 0.5]
"""
import argparse
import json
import os.path as osp
import pickle
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Sequence, Tuple

import numpy as np


def box_iou(box: Sequence[float], boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each row of ``boxes``
    (continuous coordinates, as mmdet's predictions)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def voc_objects(img_path: str, classes: Sequence[str]) -> Tuple[np.ndarray,
                                                               np.ndarray]:
    """Boxes (0-based, as mmdet reads VOC) and labels of the annotation of
    ``.../JPEGImages/ID.jpg``: ``.../Annotations/ID.xml``."""
    folder, name = osp.split(img_path)
    xml = osp.join(osp.dirname(folder), 'Annotations',
                   osp.splitext(name)[0] + '.xml')
    if not osp.isfile(xml):
        raise FileNotFoundError(f'no annotation {xml} for image {img_path}')
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as err:
        raise ValueError(f'annotation {xml} is not readable XML ({err})') \
            from None
    boxes, labels = [], []
    for obj in root.findall('object'):
        bb = obj.find('bndbox')
        boxes.append([float(bb.findtext(k)) - 1
                      for k in ('xmin', 'ymin', 'xmax', 'ymax')])
        name = obj.findtext('name')
        labels.append(classes.index(name) if name in classes else -1)
    return np.asarray(boxes).reshape(-1, 4), np.asarray(labels)


def top_box_hits(predictions: List[Dict], classes: Sequence[str],
                 iou: float = 0.5) -> Dict[str, float]:
    """Of the images, how many have their top-scoring predicted box at IoU
    >= ``iou`` with a ground-truth object (``on_object``), and with one of
    the predicted class (``on_object_same_class``); an image with no
    prediction counts as a miss."""
    on_object = same_class = 0
    for sample in predictions:
        pred = sample['pred_instances']
        scores = np.asarray(pred['scores'])
        if not len(scores):
            continue
        top = int(scores.argmax())
        gt_boxes, gt_labels = voc_objects(sample['img_path'], classes)
        overlaps = box_iou(np.asarray(pred['bboxes'])[top], gt_boxes)
        hit = overlaps >= iou
        on_object += bool(hit.any())
        same_class += bool((hit & (gt_labels == int(
            np.asarray(pred['labels'])[top]))).any())
    n = len(predictions)
    return dict(images=n, on_object=on_object / max(n, 1),
                on_object_same_class=same_class / max(n, 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('predictions', help='the .pkl of tools/test.py --out')
    parser.add_argument('--iou', type=float, default=0.5)
    args = parser.parse_args(argv)
    if not osp.isfile(args.predictions):
        sys.exit(f'error: no predictions file {args.predictions}')
    with open(args.predictions, 'rb') as f:
        predictions = pickle.load(f)
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    from mmdet.datasets import VOCDataset
    classes = list(VOCDataset.METAINFO['classes'])
    try:
        result = top_box_hits(predictions, classes, args.iou)
    except (FileNotFoundError, KeyError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(f'top-scoring box on an object (IoU >= {args.iou}): '
          f'{100 * result["on_object"]:.1f}% of {result["images"]} images '
          f'({100 * result["on_object_same_class"]:.1f}% with its class)')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
