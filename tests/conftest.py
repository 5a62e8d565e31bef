import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'demo', 'ssd192_vgg16-w0.25_fp_synthvoc.py')

# Small, quick settings for running a config end to end in tests.
QUICK_LOADERS = [
    'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
    'val_dataloader.batch_size=2', 'val_dataloader.num_workers=0',
    'test_dataloader.batch_size=2', 'test_dataloader.num_workers=0',
]


def run(args, timeout=600, check=True, env=None, cwd=ROOT):
    """Run a command with this interpreter's environment; return the result."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1',
                    **(env or {}))
    result = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f'{args} exited {result.returncode}\n--- stdout\n'
                             f'{result.stdout[-6000:]}\n--- stderr\n'
                             f'{result.stderr[-6000:]}')
    return result


def tool(name, *args, **kwargs):
    return run([sys.executable, osp.join(ROOT, 'tools', name), *args], **kwargs)


# The demo classifiers' head; the generated ImageNet-layout set has as many.
NUM_CLASSES = 10


@pytest.fixture(scope='session')
def imagenet_root(tmp_path_factory):
    from mmbnn.datasets import generate_imagenet
    root = str(tmp_path_factory.mktemp('imagenet'))
    generate_imagenet(root, num_train_per_class=3, num_val_per_class=1,
                      image_size=48, num_classes=NUM_CLASSES, seed=3,
                      progress=False)
    return root


def imagenet_data_options(imagenet_root, epochs=1):
    """``--cfg-options`` pointing a demo classifier config at ``imagenet_root``,
    for ``epochs`` epochs with quick loaders."""
    root = osp.join(imagenet_root, '')
    synsets = osp.join(root, 'synset_mapping.txt')
    return [f'{loader}.dataset.{key}={value}'
            for loader in ('train_dataloader', 'val_dataloader',
                           'test_dataloader')
            for key, value in (('data_root', root), ('classes', synsets))] + [
                f'train_cfg.max_epochs={epochs}', *QUICK_LOADERS]


@pytest.fixture(scope='session')
def voc_root(tmp_path_factory):
    from mmbnn.datasets import generate_voc
    root = str(tmp_path_factory.mktemp('voc'))
    generate_voc(root, num_trainval=8, num_test=6, num_trainval_2012=4,
                 image_size=160, num_classes=5, seed=1, progress=False)
    return root


@pytest.fixture(scope='session')
def coco_root(tmp_path_factory):
    from mmbnn.datasets import generate_coco
    root = str(tmp_path_factory.mktemp('coco'))
    generate_coco(root, num_train=8, num_val=4, image_size=160, num_classes=5,
                  seed=2, progress=False)
    return root
