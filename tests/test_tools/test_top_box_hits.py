"""tools/analysis_tools/top_box_hits.py: how many images have their
top-scoring box on an object, counted against the VOC annotations."""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np

from conftest import ROOT

TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'top_box_hits.py')
CLASSES = ['aeroplane', 'bicycle', 'bird']


def _tool():
    sys.path.insert(0, osp.dirname(TOOL))
    import top_box_hits
    return top_box_hits


def _voc(tmp_path, objects_per_image):
    base = tmp_path / 'VOC2007'
    os.makedirs(base / 'JPEGImages')
    os.makedirs(base / 'Annotations')
    paths = []
    for i, objects in enumerate(objects_per_image):
        rows = ''.join(
            f'<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin>'
            f'<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax>'
            '</bndbox></object>' for name, b in objects)
        (base / 'Annotations' / f'{i:06d}.xml').write_text(
            f'<annotation>{rows}</annotation>')
        paths.append(str(base / 'JPEGImages' / f'{i:06d}.jpg'))
    return paths


def _pred(path, boxes, scores, labels):
    return dict(img_path=path, pred_instances=dict(
        bboxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        scores=np.asarray(scores, np.float32), labels=np.asarray(labels)))


def test_box_iou_by_hand():
    iou = _tool().box_iou((0, 0, 10, 10), np.array([[5, 0, 15, 10],
                                                    [0, 0, 10, 10],
                                                    [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [50 / 150, 1.0, 0.0])


def test_counts_the_top_box_only(tmp_path):
    # VOC boxes are 1-based: xmin 1 .. xmax 10 is 0 .. 9 for mmdet.
    paths = _voc(tmp_path, [[('bird', (1, 1, 10, 10))],
                            [('aeroplane', (1, 1, 10, 10)),
                             ('bicycle', (21, 21, 40, 40))],
                            [('bird', (1, 1, 10, 10))],
                            [('bird', (1, 1, 10, 10))]])
    preds = [
        # top box on the bird, right class: a hit of both kinds
        _pred(paths[0], [[0, 0, 9, 9], [50, 50, 60, 60]], [0.9, 0.1], [2, 0]),
        # top box (0.8) on the bicycle (IoU 1) but called an aeroplane
        _pred(paths[1], [[20, 20, 39, 39], [0, 0, 9, 9]], [0.8, 0.7], [0, 0]),
        # top box at IoU 44.55 / 117.45 = 0.38 (x 0..9 against 4.05..13.05):
        # a miss, though a lower-scoring box is exact
        _pred(paths[2], [[4.05, 0, 13.05, 9], [0, 0, 9, 9]], [0.6, 0.5], [2, 2]),
        # no prediction at all: a miss
        _pred(paths[3], [], [], []),
    ]
    result = _tool().top_box_hits(preds, CLASSES)
    assert result == dict(images=4, on_object=0.5, on_object_same_class=0.25)


def test_the_tool_reads_a_dump_and_says_what_is_missing(tmp_path):
    paths = _voc(tmp_path, [[('bird', (1, 1, 10, 10))]])
    dump = tmp_path / 'pred.pkl'
    with open(dump, 'wb') as f:
        pickle.dump([_pred(paths[0], [[0, 0, 9, 9]], [0.5], [2])], f)
    out = subprocess.run([sys.executable, TOOL, str(dump)], check=True,
                         capture_output=True, text=True).stdout
    assert 'top-scoring box on an object (IoU >= 0.5): 100.0% of 1 images' in out
    assert json.loads(out.splitlines()[-1])['on_object_same_class'] == 1.0
    with open(dump, 'wb') as f:
        pickle.dump([_pred(str(tmp_path / 'x' / 'JPEGImages' / 'a.jpg'),
                           [[0, 0, 1, 1]], [0.5], [0])], f)
    bad = subprocess.run([sys.executable, TOOL, str(dump)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and 'no annotation' in bad.stderr
    xml = osp.join(osp.dirname(osp.dirname(paths[0])), 'Annotations',
                   osp.splitext(osp.basename(paths[0]))[0] + '.xml')
    with open(xml, 'w') as f:
        f.write('<annotation><object>')  # truncated
    with open(dump, 'wb') as f:
        pickle.dump([_pred(paths[0], [[0, 0, 9, 9]], [0.5], [2])], f)
    corrupt = subprocess.run([sys.executable, TOOL, str(dump)],
                             capture_output=True, text=True)
    assert corrupt.returncode == 1 and 'is not readable XML' in corrupt.stderr
    assert xml in corrupt.stderr
    missing = subprocess.run([sys.executable, TOOL, str(tmp_path / 'no.pkl')],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and 'no predictions file' in missing.stderr


def test_a_lower_threshold_counts_the_near_miss(tmp_path):
    paths = _voc(tmp_path, [[('bird', (1, 1, 10, 10))]])
    preds = [_pred(paths[0], [[4.05, 0, 13.05, 9]], [0.6], [2])]
    assert _tool().top_box_hits(preds, CLASSES, 0.3)['on_object'] == 1.0
