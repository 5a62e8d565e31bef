"""Bad input gets an error that names the problem."""
import json
import os.path as osp
import shutil
import sys

import pytest
from conftest import DEMO_CONFIG, QUICK_LOADERS, ROOT, tool
from mmengine.config import Config

from mmbnn.apis import load_config
from mmbnn.datasets import (AnnotationError, CheckedCocoDataset,
                            CheckedVOCDataset)


def test_missing_data_root_is_named_by_the_train_tool(tmp_path):
    missing = str(tmp_path / 'no' / 'VOCdevkit') + '/'
    result = tool('train.py', DEMO_CONFIG, '--work-dir', str(tmp_path / 'w'),
                  '--data-root', missing, '--cfg-options', *QUICK_LOADERS,
                  check=False)
    assert result.returncode != 0
    assert f"data_root '{missing}' does not exist" in result.stderr


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


def test_misspelt_top_level_key_is_refused():
    with pytest.raises(KeyError, match="'trian_cfg'.*did you mean 'train_cfg'"):
        load_config(DEMO_CONFIG, {'trian_cfg': dict(max_epochs=1)})
    # Free helper names that are not near a Runner key stay allowed.
    cfg = load_config(DEMO_CONFIG, {'my_input_size': 300})
    assert cfg.my_input_size == 300


def test_unknown_nested_key_is_named():
    from mmdet.registry import MODELS
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.backbone.widen_factr = 0.5
    with pytest.raises(TypeError, match='widen_factr'):
        MODELS.build(cfg.model)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config(str(tmp_path / 'nope.py'))


def test_persistent_workers_dropped_without_workers():
    cfg = load_config(DEMO_CONFIG, {'train_dataloader.num_workers': 0})
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True


def test_amp_without_gpu_is_refused_clearly(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('a GPU is present: --amp is supported')
    result = tool('train.py', DEMO_CONFIG, '--amp', '--work-dir',
                  str(tmp_path), check=False)
    assert result.returncode != 0
    assert '--amp needs a GPU' in result.stderr


def test_experiment_without_its_metric_is_an_error_not_nan(tmp_path,
                                                           monkeypatch):
    """train_and_test (the demo's and the benchmarks' driver) names the
    metric tools/test.py did not print instead of returning NaN."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from experiments import harness as experiment
    printed = []

    def fake_stream(cmd, echo):
        printed.append(cmd)
        if 'train.py' in cmd[1]:
            (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'e.pth'))
            return 'trained\n'
        return 'pascal_voc/AP50: 0.5\ncoco/bbox_mAP: 0.25\n'

    monkeypatch.setattr(experiment, 'stream', fake_stream)
    with pytest.raises(RuntimeError, match="printed no 'pascal_voc/mAP'"):
        experiment.train_and_test('cfg.py', str(tmp_path), 'data')
    assert len(printed) == 2
    result = experiment.train_and_test('cfg.py', str(tmp_path), 'data',
                                       metric='coco/bbox_mAP')
    assert result['metric'] == 0.25
