import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from hypothesis import settings

import mmbnn.plugin  # noqa: F401 (registration, the stack's fixes)

if os.environ.get('PYTEST_XDIST_WORKER'):
    # One thread per xdist worker (make test runs one worker per core), also
    # for the tools the tests start.
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '1'
    torch.set_num_threads(1)

# Hypothesis: 'mmbnn' (make test): the same 40 examples per property on every
# run; 'thorough' (HYPOTHESIS_PROFILE=thorough): 1000 fresh ones each.
settings.register_profile('mmbnn', deadline=None, max_examples=40,
                          derandomize=True, print_blob=True)
settings.register_profile('thorough', deadline=None, max_examples=1000,
                          print_blob=True)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'mmbnn'))

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


def free_port():
    """A TCP port free on this machine now (for a launcher's master)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


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


# ------------------------------------------- configs say what their names say

def _name_tokens(path):
    stem = osp.splitext(osp.basename(path))[0]
    return set(stem.replace('-', '_').split('_')), stem


def expected_binary_parts(path):
    """What a config's file name promises is binary, independently of its
    contents: ``fp`` in the name: nothing; ``backbone``, or a classifier
    (a backbone and a real FC): the backbone only; any other detector: the
    backbone and the neck. The head is never binary."""
    tokens, _ = _name_tokens(path)
    if 'fp' in tokens:
        return set()
    classifier = any(d in osp.normpath(path).split(osp.sep)
                     for d in ('imagenet', 'cifar10')) or 'synthimagenet' in tokens
    if classifier or 'backbone' in tokens:
        return {'backbone'}
    return {'backbone', 'neck'}


def expected_binarizers(path):
    """The binarizer and estimators a name (and the family's header) promise:
    ``sign-ste``: sign weights and STE everywhere; ``imb-ste``: IMB weights
    and STE everywhere; ReActNet-A: XNOR weights with the clipped STE,
    ApproxSign activations; every other BNN config: DIR-Net's IMB weights
    and DTE gradients."""
    _, stem = _name_tokens(path)
    for weights in ('sign', 'imb'):
        if f'{weights}-ste' in stem:
            return dict(weight_binarizer=weights, weight_estimator='ste',
                        activation_estimator='ste')
    if stem.startswith('reactnet'):
        return dict(weight_binarizer='xnor', weight_estimator='ste',
                    activation_estimator='approx')
    return dict(weight_binarizer='imb', weight_estimator='dte',
                activation_estimator='dte')


def check_binary_parts(path, cfg, model):
    """The binary layers of ``model`` built from ``cfg`` (read from ``path``)
    sit exactly in the parts its name promises, binarize weights and
    activations, and use the binarizer and estimators the name promises; the
    config's ``binarized`` key says the same."""
    from mmbnn.models.layers.binary import BinaryMixin
    binary = {n: m for n, m in model.named_modules()
              if isinstance(m, BinaryMixin) and m.configured_binarize != 'none'}
    parts = {n.split('.')[0] for n in binary}
    expected = expected_binary_parts(path)
    assert parts == expected, (path, sorted(parts), sorted(expected))
    if expected:
        # Every block of a binary part that has a 3x3 conv binarizes it,
        # except a real stem: at least half of the part's convs are binary.
        for part in expected:
            convs = [m for n, m in model.named_modules()
                     if n.startswith(part + '.')
                     and isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
            n_binary = sum(isinstance(m, BinaryMixin)
                           and m.configured_binarize != 'none' for m in convs)
            assert n_binary * 2 >= len(convs) > 0, (path, part, n_binary,
                                                    len(convs))
    want = expected_binarizers(path)
    for name, layer in binary.items():
        got = dict(weight_binarizer=layer.weight_binarizer,
                   weight_estimator=layer.weight_estimator,
                   activation_estimator=layer.activation_estimator)
        assert got == want, (path, name, got)
        assert layer.configured_binarize == 'both', (path, name)
    promised = {frozenset(): 'none', frozenset({'backbone'}): 'backbone',
                frozenset({'backbone', 'neck'}): 'backbone+neck'}
    assert cfg.get('binarized', 'none') == promised[frozenset(expected)], path


# ------------------------------------------------- the native library's paths

def _isa_paths():
    from mmbnn.ops import native
    return list(native.ISAS) + ['reference']


ISA_PATHS = _isa_paths()


def force_isa(monkeypatch, isa):
    """Run the rest of the test on instruction-set path ``isa`` (skip it
    where this machine cannot)."""
    from mmbnn.ops import native
    if isa not in native.available_isas():
        pytest.skip(f'this machine cannot run the {isa} path')
    monkeypatch.setenv('MMBNN_ISA', isa)
    assert native.select_isa() == isa


def packed_weight(w):
    """The signs of a float weight ``[O, C, KH, KW]`` as the kernels' packed
    weight."""
    from mmbnn.ops.bits import pack_bit_words
    from mmbnn.ops.xnor_conv import PackedWeight
    return PackedWeight(pack_bit_words((w >= 0).permute(0, 2, 3, 1)),
                        w.shape[1], 1)


R18 = osp.join(ROOT, 'configs', 'imagenet', 'bnn_resnet18-bireal_8xb32_in1k.py')


@pytest.fixture(scope='session')
def resnet_export(tmp_path_factory):
    """The binary ResNet-18 classifier with trained-looking BN statistics and
    its checkpoint: ``(cfg, model, checkpoint, folder)``."""
    from mmbnn.apis import load_config
    from mmbnn.models.builder import build_model
    from toy import randomize_norms
    tmp = tmp_path_factory.mktemp('r18')
    cfg = load_config(R18)
    torch.manual_seed(0)
    model = randomize_norms(build_model(cfg)).eval()
    ckpt = str(tmp / 'r18.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=3)), ckpt)
    return cfg, model, ckpt, tmp
