"""mmbnn/engine/train_steps.py: each step's config (its binarization and
weight decay); bad train_steps are refused."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT
from toy import Mixed

TWO_STEP = osp.join(ROOT, 'configs', 'demo',
                    'bnn_vgg16-w0.25_adam-two-step_synthimagenet.py')


def test_each_step_decays_with_its_own_value():
    from mmengine.optim import build_optim_wrapper

    from mmbnn.apis import load_config
    from mmbnn.engine.train_steps import step_config
    cfg = load_config(TWO_STEP)
    seen = []
    for index in range(2):
        step = step_config(cfg, index)
        wrapper = build_optim_wrapper(Mixed(), step.optim_wrapper)
        seen.append(sorted({g['weight_decay'] for g in
                            wrapper.optimizer.param_groups}))
    assert seen == [[0.0, 5e-6], [0.0]]


def test_activations_only_step_keeps_weights_real():
    from mmbnn.models.layers import BinaryConv2d, set_binarize_mode
    from mmbnn.ops import imb
    torch.manual_seed(0)
    layer = BinaryConv2d(3, 4, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 5, 5)
    sign_x = torch.where(x >= 0, 1.0, -1.0)
    set_binarize_mode(layer, 'activations')
    torch.testing.assert_close(layer(x), F.conv2d(sign_x, layer.weight,
                                                  padding=1))
    set_binarize_mode(layer, 'weights')
    torch.testing.assert_close(layer(x), F.conv2d(x, imb(layer.weight.detach()),
                                                  padding=1))
    set_binarize_mode(layer, 'both')
    torch.testing.assert_close(layer(x), F.conv2d(
        sign_x, imb(layer.weight.detach()), padding=1))


@pytest.mark.parametrize('steps,message', [
    ([], 'non-empty'),
    ([dict(binarize='both', epochs=3)], "unknown key.*'epochs'"),
    ([dict(weight_decay=0.0)], 'binarize must be one of'),
    ([dict(binarize='both', max_epochs=0)], 'max_epochs must be an int'),
])
def test_bad_train_steps_are_refused(steps, message):
    from mmbnn.apis import load_config
    with pytest.raises((ValueError, KeyError), match=message):
        load_config(TWO_STEP, cfg_options=dict(train_steps=steps))
