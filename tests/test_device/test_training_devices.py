"""A few training steps of the demo classifiers (the binary VGG16-w0.25
and its FP twin, built from their configs as the tools build them) on each
device, against the same steps on the CPU."""
import copy
import os.path as osp

import pytest
import torch

from mmbnn.ops import dte_schedule

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs', 'demo')
STEPS = 12


def _config(name):
    from mmengine.config import Config

    # Registration comes from the tier's imports: the configs' plug-in line
    # (mmbnn.plugin) would import mmdet, which the GPU machine lacks.
    return Config.fromfile(osp.join(DEMO, name), import_custom_modules=False)


def _batch(size=64, n=16):
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 256, (3, size, size), generator=gen,
                                      dtype=torch.uint8) for _ in range(n)],
                data_samples=[DataSample().set_gt_label(i % 10)
                              for i in range(n)])


def _train(cfg, state, device):
    """``STEPS`` train_steps on one batch, the DTE schedule moved through
    both stages as the scheduler hook would; the losses."""
    from mmengine.optim import build_optim_wrapper

    from mmbnn.models import build_model
    from mmbnn.models.layers import binary_layers
    model = build_model(cfg)
    model.load_state_dict(state)
    model = model.to(device).train()
    optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    batch, losses = _batch(), []
    for step in range(STEPS):
        k, t, stage = dte_schedule(step / STEPS)
        for _, layer in binary_layers(model):
            layer.k.fill_(k)
            layer.t.fill_(t)
            layer.stage.fill_(stage)
        log = model.train_step(batch, optim)
        losses.append(log['loss'])
    assert all(p.device.type == torch.device(device).type
               for p in model.parameters())
    return [float(loss) for loss in losses], model


@pytest.mark.parametrize('name', ['bnn_vgg16-w0.25_synthimagenet.py',
                                  'vgg16-w0.25_fp_synthimagenet.py'])
def test_demo_classifier_trains_on_the_device_as_on_the_cpu(device, name):
    """From the same initial weights: the first loss (no update yet) within
    1e-4 of the CPU's, every loss finite, every parameter updated. The FP
    twin's loss on the batch falls (2.29 -> 0.66 on the CPU); the binary
    one's hardly moves on a batch of noise in 12 steps (2.28 -> 2.26), so
    for it: every binary layer in stage 2 at the end with a finite running
    cap (that BNNs learn is tests/test_learning.py's subject)."""
    from mmbnn.models import build_model
    from mmbnn.models.layers import binary_layers
    cfg = _config(name)
    torch.manual_seed(0)
    init = build_model(cfg)
    init.init_weights()
    state = init.state_dict()
    losses, model = _train(cfg, state, device)
    cpu_losses, _ = _train(cfg, state, 'cpu')
    assert losses[0] == pytest.approx(cpu_losses[0], rel=1e-4)
    assert all(map(torch.isfinite, torch.tensor(losses)))
    for key, param in model.named_parameters():
        assert not torch.equal(param.detach().cpu(), state[key]), key
    layers = binary_layers(model)
    assert bool(layers) == name.startswith('bnn')
    if not layers:
        assert max(losses[STEPS // 2:]) < 0.6 * losses[0]
    for _, layer in layers:
        assert layer._stage_value() == 2
        assert torch.isfinite(layer.act_t_cap).item()
