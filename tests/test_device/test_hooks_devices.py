"""The scheduler, diagnostics and RBD hooks training on each device, and
checkpoints saved on one device and loaded on another."""
import copy
import json
import os.path as osp
import types

import numpy as np
import pytest
import torch

from devices import assert_close_to
from mmbnn.models.layers import BinaryConv2d, binary_layers
from mmbnn.ops import dte_schedule
from toy import TOY_CLASSIFIER as CLASSIFIER
from toy import randomize_norms, toy_net, toy_runner

@pytest.fixture
def on(monkeypatch):
    """``on(device)``: mmengine Runners built after it put the model on
    ``device`` (mmengine takes the best device there is; a CPU run on a
    CUDA machine needs telling)."""
    def place(device):
        monkeypatch.setattr('mmengine.runner.runner.get_device',
                            lambda: torch.device(device).type)
    return place


def _two_dte_convs():
    torch.manual_seed(0)
    return toy_net(BinaryConv2d(3, 8, 3, padding=1, bias=False),
                   BinaryConv2d(8, 8, 3, padding=1, bias=False))


class _Recorder:
    """The binary layers' latent weights, copied to the host after every
    iteration: the independent record the diagnostics are checked against."""

    def __new__(cls):
        from mmengine.hooks import Hook

        class Recorder(Hook):
            priority = 'LOWEST'

            def __init__(self):
                self.weights, self.losses = [], []

            def _record(self, runner):
                self.weights.append([layer.weight.detach().cpu().numpy().copy()
                                     for _, layer in binary_layers(runner.model)])

            def before_train(self, runner):
                self._record(runner)

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                self._record(runner)
                self.losses.append(float(outputs['loss']))
        return Recorder()


def _host_ff(weights):
    """Flip-flop ratio of each iteration, counted on the host from the
    recorded latent weights (sign(0) = +1)."""
    numel = sum(w.size for w in weights[0])
    return [sum(int(((a >= 0) != (b >= 0)).sum()) for a, b in zip(before, after))
            / numel for before, after in zip(weights, weights[1:])]


def _scheduled_run(work_dir, hooks, epochs=2, **kwargs):
    from mmbnn.engine.hooks import BinarySchedulerHook, BNNDiagnosticsHook
    recorder = _Recorder()
    runner = toy_runner(work_dir, [BinarySchedulerHook('dte', log_interval=2),
                                   BNNDiagnosticsHook(interval=3), recorder,
                                   *hooks],
                        model=_two_dte_convs(), epochs=epochs, log_interval=2,
                        optimizer=dict(type='SGD', lr=0.5), **kwargs)
    return runner, recorder


def test_scheduler_and_diagnostics_hooks_train_on_the_device(device, on,
                                                             tmp_path):
    """Two DTE convs trained for 12 iterations through both stages: the
    model and its buffers on the device, the schedule's ``(k, t, stage)``
    of the last iteration in every layer, the diagnostics' flip-flop ratios
    equal to a count made on the host from the recorded weights, the bound's
    bind ratio a share, and the first loss equal to the CPU run's."""
    on('cpu')
    cpu_runner, cpu_record = _scheduled_run(tmp_path / 'cpu', [])
    cpu_runner.train()
    on(device)
    runner, record = _scheduled_run(tmp_path / 'dev', [])
    runner.train()
    model = runner.model
    iters = runner.iter
    assert iters == 12
    k, t, stage = dte_schedule((iters - 1) / iters)
    assert stage == 2
    for name, layer in binary_layers(model):
        assert layer.weight.device.type == device.type, name
        assert layer.k.item() == pytest.approx(k, rel=1e-6)
        assert layer.t.item() == pytest.approx(t, rel=1e-6)
        assert layer.stage.item() == 2 and layer.stage.device.type == device.type
        assert torch.isfinite(layer.act_t_cap).item(), name
    # First iteration: same weights, same batch, so the same loss.
    assert record.losses[0] == pytest.approx(cpu_record.losses[0], rel=1e-5)
    assert all(np.isfinite(record.losses))
    with open(osp.join(runner.log_dir, 'bnn_diagnostics.json')) as f:
        summary = json.load(f)
    ff = _host_ff(record.weights)
    assert len(ff) == iters and max(ff) > 0
    np.testing.assert_allclose(summary['ff_ratio_per_iter'], ff, rtol=1e-12)
    assert summary['dte_bind_ratio'] is not None
    assert 0.0 <= summary['dte_bind_ratio'] <= 1.0


def test_resume_on_the_device_continues_the_diagnostics(device, on, tmp_path):
    """A run checkpointed after epoch 1 and resumed on the device: the
    diagnostics' state comes back onto the model's device and the resumed
    run counts the same flip-flops as the host record of its iterations."""
    on(device)
    first, _ = _scheduled_run(tmp_path, [], epochs=1, checkpoint=True)
    first.train()
    ckpt = osp.join(str(tmp_path), 'epoch_1.pth')
    assert osp.isfile(ckpt)
    resumed, record = _scheduled_run(tmp_path, [], epochs=2, resume=True,
                                     load_from=ckpt, checkpoint=True)
    resumed.train()
    with open(osp.join(resumed.log_dir, 'bnn_diagnostics.json')) as f:
        summary = json.load(f)
    ff = _host_ff(record.weights)
    assert summary['iterations'] == 12
    np.testing.assert_allclose(summary['ff_ratio_per_iter'][6:], ff, rtol=1e-12)


def _classifier(conv_cfg, seed):
    from mmbnn.models import build_model
    cfg = copy.deepcopy(CLASSIFIER)
    cfg['backbone']['conv_cfg'] = conv_cfg
    torch.manual_seed(seed)
    model = build_model(cfg, scope='mmpretrain')
    model.init_weights()
    return model


def _rbd_loss(device, teacher_path, dtype=torch.float32):
    """The RBD hook installed on the student on ``device``; one loss."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmpretrain.structures import DataSample

    from mmbnn.engine.hooks import RBDHook
    student = _classifier(dict(type='BinaryConv2d'), 0).to(device, dtype)
    hook = RBDHook(teacher_checkpoint=teacher_path, loss_weight=2.0)
    runner = types.SimpleNamespace(
        model=student, cfg=Config(dict(model=CLASSIFIER,
                                       default_scope='mmpretrain')),
        logger=MMLogger.get_current_instance())
    hook.before_train(runner)
    hook.teacher.to(dtype)
    assert all(p.device.type == device.type for p in hook.teacher.parameters())
    inputs = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    # On the device, as the data preprocessor leaves them.
    samples = [DataSample().set_gt_label(i % 4).to(device) for i in range(3)]
    student.train()
    losses = student.loss(inputs.to(device, dtype), samples)
    losses['loss_rbd'].backward()
    grad = student.backbone.stages[0][0][1].conv.weight.grad
    hook.after_train(runner)
    return losses, grad


def test_rbd_hook_on_the_device_matches_float64_on_the_cpu(device, tmp_path):
    """The teacher follows the student onto the device; the RBD loss and
    the gradient it sends to a binary conv's latent weight agree with the
    same student and teacher in float64 on the CPU (1e-4: float32 BN and
    normalizations), and the teacher gets no gradient."""
    teacher = _classifier(None, 5)
    path = str(tmp_path / 'fp.pth')
    torch.save({'meta': {}, 'state_dict': teacher.state_dict()}, path)
    losses, grad = _rbd_loss(device, path)
    losses64, grad64 = _rbd_loss(torch.device('cpu'), path, torch.float64)
    assert losses['loss_rbd'].device.type == device.type
    assert losses['loss_rbd'].item() > 0
    assert losses['loss_rbd'].item() == pytest.approx(
        losses64['loss_rbd'].item(), rel=1e-4)
    assert_close_to(grad, grad64, 1e-4, 'RBD gradient of a binary weight')


@pytest.mark.parametrize('direction', ['device_to_cpu', 'cpu_to_device'])
def test_checkpoint_saved_on_one_device_loads_on_the_other(device, direction,
                                                           tmp_path):
    """A trained-looking binary classifier saved from one device loads into
    a model on the other through mmbnn's checkpoint reader and strict fit;
    buffers land on the loading model's device and the eval outputs agree
    (1e-5)."""
    from mmbnn.models.utils.state_dict import load_fitting_state_dict
    from mmbnn.utils.checkpoint import read_checkpoint, state_dict_of
    src_device, dst_device = ((device, torch.device('cpu'))
                              if direction == 'device_to_cpu'
                              else (torch.device('cpu'), device))
    source = randomize_norms(_classifier(dict(type='BinaryConv2d'), 2))
    for _, layer in binary_layers(source):
        layer.stage.fill_(2)
        layer.t.fill_(3.0)
        layer.act_t_cap.fill_(2.5)
    source = source.to(src_device).eval()
    path = str(tmp_path / 'bnn.pth')
    torch.save({'meta': {}, 'state_dict': source.state_dict()}, path)
    target = _classifier(dict(type='BinaryConv2d'), 3).to(dst_device).eval()
    state = state_dict_of(read_checkpoint(path, 'cpu'), path)
    load_fitting_state_dict(target, state, path, 'the classifier')
    for key, value in target.state_dict().items():
        assert value.device.type == dst_device.type, key
        assert torch.equal(value.cpu(), source.state_dict()[key].cpu()), key
    for _, layer in binary_layers(target):
        assert layer._stage_value() == 2
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = source(x.to(src_device), mode='tensor')
        got = target(x.to(dst_device), mode='tensor')
    assert_close_to(got, want, 1e-5, 'logits after the move')
