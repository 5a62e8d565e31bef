"""mmbnn/datasets/checked.py: malformed annotations name their file and
object."""
import json
import os.path as osp
import shutil

import pytest

from mmbnn.datasets import (AnnotationError, CheckedCocoDataset,
                            CheckedVOCDataset)


def test_missing_annotation_file_is_named(voc_root):
    with pytest.raises(FileNotFoundError, match='VOC2009/ImageSets'):
        CheckedVOCDataset(data_root=osp.join(voc_root, 'VOCdevkit'),
                          ann_file='VOC2009/ImageSets/Main/test.txt',
                          data_prefix=dict(sub_data_root='VOC2009/'),
                          pipeline=[])


@pytest.fixture
def voc_copy(voc_root, tmp_path):
    root = str(tmp_path / 'VOCdevkit')
    shutil.copytree(osp.join(voc_root, 'VOCdevkit'), root)
    return root


def _first_xml(root):
    with open(osp.join(root, 'VOC2007/ImageSets/Main/test.txt')) as f:
        img_id = f.read().split()[0]
    return osp.join(root, 'VOC2007', 'Annotations', f'{img_id}.xml')


def _voc(root):
    return CheckedVOCDataset(data_root=root,
                             ann_file='VOC2007/ImageSets/Main/test.txt',
                             data_prefix=dict(sub_data_root='VOC2007/'),
                             test_mode=True, pipeline=[])


@pytest.mark.parametrize('edit,message', [
    (lambda s: s.replace('<xmin>', '<xmin>x', 1), r'<xmin> is .x'),
    (lambda s: s.replace('<ymax>', '<ymax>-', 1), 'inverted box'),
    (lambda s: s.replace('<bndbox>', '<box>', 1).replace('</bndbox>', '</box>', 1),
     'has no <bndbox>'),
    (lambda s: s[:len(s) // 2], 'cannot parse'),
])
def test_malformed_voc_box_names_file_and_object(voc_copy, edit, message):
    xml = _first_xml(voc_copy)
    with open(xml) as f:
        text = f.read()
    with open(xml, 'w') as f:
        f.write(edit(text))
    with pytest.raises(AnnotationError, match=message) as err:
        _voc(voc_copy)
    assert osp.basename(xml) in str(err.value)


@pytest.mark.parametrize('bbox,message', [
    ([1, 2, 3], r'bbox must be \[x, y, w, h\]'),
    ([1, 2, 'wide', 4], r'bbox\[2\] is .wide.'),
    ([1, 2, -3, 4], 'negative width'),
])
def test_malformed_coco_box_names_annotation(coco_root, tmp_path, bbox, message):
    with open(osp.join(coco_root, 'annotations', 'instances_val2017.json')) as f:
        raw = json.load(f)
    raw['annotations'][1]['bbox'] = bbox
    bad = tmp_path / 'instances_val2017.json'
    bad.write_text(json.dumps(raw))
    with pytest.raises(AnnotationError, match=message) as err:
        CheckedCocoDataset(data_root=coco_root, ann_file=str(bad),
                           data_prefix=dict(img='val2017/'), test_mode=True,
                           pipeline=[])
    assert f"annotation id {raw['annotations'][1]['id']}" in str(err.value)
