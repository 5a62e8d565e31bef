"""mmbnn/apis/inference.py: init_model builds a config's detector or
classifier in its scope, quietly, from nothing, a checkpoint or a .mmbnn
file, and refuses a checkpoint that does not fit."""
import logging
import os.path as osp

import pytest
import torch

from conftest import ROOT
from mmbnn.apis import init_model, quiet_logging
from mmbnn.models.layers import BinaryConv2d

DEMO_CLS = osp.join(ROOT, 'configs', 'demo', 'bnn_vgg16-w0.25_synthimagenet.py')
DEMO_DET = osp.join(ROOT, 'configs', 'demo', 'bnn_ssd192_vgg16-w0.25_synthvoc.py')


class _Lines(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_classifier_and_detector_build_quietly_in_their_scopes():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    lines = _Lines()
    logger.addHandler(lines)
    try:
        classifier = init_model(DEMO_CLS)
        detector = init_model(DEMO_DET)
    finally:
        logger.removeHandler(lines)
    assert type(classifier).__name__ == 'ImageClassifier'
    # mmpretrain configs hold the preprocessor at top level: the model gets
    # it, as the Runner's would (a classifier without it sees raw pixels).
    mean = classifier.data_preprocessor.mean.flatten().tolist()
    assert mean == pytest.approx(classifier.cfg.data_preprocessor.mean)
    assert type(detector).__name__ == 'SingleStageDetector'
    assert not classifier.training and classifier.cfg.filename == DEMO_CLS
    # init_weights ran (SSDNeck's L2Norm weight is its constant 20) and
    # logged nothing: no line per parameter.
    assert torch.all(detector.neck.l2_norm.weight == 20.0)
    assert [line for line in lines.lines if 'init' in line.lower()] == []
    assert logger.level != logging.WARNING  # restored after the build
    with quiet_logging() as quiet:
        assert quiet.level == logging.WARNING


def test_checkpoint_loads_where_it_fits_and_is_refused_elsewhere(tmp_path):
    torch.manual_seed(0)
    trained = init_model(DEMO_CLS)
    with torch.no_grad():
        for m in trained.modules():
            if isinstance(m, BinaryConv2d):
                m.weight.mul_(-1)
    path = str(tmp_path / 'cls.pth')
    torch.save(dict(state_dict=trained.state_dict()), path)
    loaded = init_model(DEMO_CLS, path)
    for a, b in zip(loaded.state_dict().values(),
                    trained.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(Exception, match='does not fit.*missing keys'):
        init_model(DEMO_DET, path)
