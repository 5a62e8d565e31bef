"""Training must learn: the demo's binary classifier (IMB weights, sign
activations, DTE gradients, the DTE schedule hook) trained for a few epochs
on generated data clears a top-1 floor that the same model untrained does
not reach. A wrong gradient, a binarizer that destroys the signal or a
schedule stuck at a zero gradient fails it."""
import os.path as osp

import pytest

from conftest import ROOT

CONFIG = osp.join(ROOT, 'configs', 'demo', 'bnn_vgg16-w0.25_synthimagenet.py')
CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS = 10, 30, 10
EPOCHS = 8
SIZE = 48  # the VGG's five poolings leave 1x1 at 32 px: it does not learn
FLOOR = 50.0  # top-1 %, chance is 10


@pytest.fixture(scope='module')
def learning_set(tmp_path_factory):
    from mmbnn.datasets import generate_imagenet
    root = str(tmp_path_factory.mktemp('learning_set'))
    generate_imagenet(root, num_train_per_class=TRAIN_PER_CLASS,
                      num_val_per_class=VAL_PER_CLASS, image_size=SIZE,
                      num_classes=CLASSES, seed=11, progress=False)
    return osp.join(root, '')


def _runner(root, work_dir, seed):
    from mmbnn.apis import build_runner, load_config
    loaders = {}
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loaders[name] = dict(
            batch_size=16, num_workers=0,
            dataset=dict(data_root=root, classes=root + 'synset_mapping.txt'))
    cfg = load_config(CONFIG, work_dir=work_dir, cfg_options=dict(
        loaders, randomness=dict(seed=seed),
        train_cfg=dict(max_epochs=EPOCHS, val_interval=EPOCHS),
        default_hooks=dict(checkpoint=dict(interval=EPOCHS),
                           logger=dict(interval=50))))
    # The pipelines were built from the config's 64 px.
    for name in loaders:
        for step in cfg[name].dataset.pipeline:
            for key in ('scale', 'crop_size'):
                if key in step:
                    step[key] = SIZE
    return build_runner(cfg)


def test_binary_classifier_learns_above_a_floor_untrained_cannot_reach(
        learning_set, tmp_path):
    """Top-1 on 100 validation images of 10 classes (48 px) after 8 epochs
    of 300 images (150 iterations of 16); the floor is 50%, chance 10%.
    Untrained, the model scored 7-13% (seeds 0-4; asserted < 25% each run).
    Trained, seeds 0-4 gave 79, 83, 74, 83 and 86%: the floor sits 24 points
    below the worst. The test runs seed 0."""
    untrained = _runner(learning_set, str(tmp_path / 'untrained'), 0).test()
    assert untrained['accuracy/top1'] < 25.0, untrained
    trained = _runner(learning_set, str(tmp_path / 'trained'), 0)
    trained.train()
    top1 = trained.test()['accuracy/top1']
    assert top1 >= FLOOR, top1
