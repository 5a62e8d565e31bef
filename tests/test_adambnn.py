"""AdamBNN (methods.md 3): conv-only weight decay, two-step training in one
command (and its resume), ReActNet-A, and the diagnostics hook (FF, C2I,
saturation, latent weights) against independent counts."""
import itertools
import json
import os.path as osp
import re
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import ROOT, imagenet_data_options, run, tool

TWO_STEP = osp.join(ROOT, 'configs', 'demo',
                    'bnn_vgg16-w0.25_adam-two-step_synthimagenet.py')
HARNESS = osp.join(ROOT, 'tests', 'kill_harness.py')
THREADS = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


# ------------------------------------------------------------ weight decay

class _Mixed(nn.Module):
    """One of every parameter kind AdamBNN treats differently."""

    def __init__(self):
        super().__init__()
        from mmbnn.models.layers import BinaryConv2d, LearnableShift, RPReLU
        self.conv = nn.Conv2d(3, 4, 3, bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.rsign = LearnableShift(4)
        self.binary = BinaryConv2d(4, 4, 3, bias=False)
        self.rprelu = RPReLU(4)
        self.fc = nn.Linear(4, 2)


# Written out by hand: the parameters with ndim == 4 are the conv kernels.
DECAYED = {'conv.weight', 'binary.weight'}


@pytest.mark.parametrize('weight_decay', [5e-6, 0.0])
def test_only_conv_kernels_get_weight_decay(weight_decay):
    from mmengine.optim import build_optim_wrapper

    import mmbnn.plugin  # noqa: F401 (registers the constructor)
    model = _Mixed()
    wrapper = build_optim_wrapper(model, dict(
        constructor='ConvDecayOptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=1e-3, weight_decay=weight_decay)))
    assert type(wrapper.optimizer) is torch.optim.Adam  # coupled L2, not AdamW
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    assert set(decay) == set(names.values())
    assert {n for n, wd in decay.items() if wd} == (DECAYED if weight_decay
                                                    else set())
    assert all(decay[n] == weight_decay for n in DECAYED)


def test_each_step_decays_with_its_own_value():
    from mmengine.optim import build_optim_wrapper

    from mmbnn.apis import load_config
    from mmbnn.engine.train_steps import step_config
    cfg = load_config(TWO_STEP)
    seen = []
    for index in range(2):
        step = step_config(cfg, index)
        wrapper = build_optim_wrapper(_Mixed(), step.optim_wrapper)
        seen.append(sorted({g['weight_decay'] for g in
                            wrapper.optimizer.param_groups}))
    assert seen == [[0.0, 5e-6], [0.0]]


# --------------------------------------------------------- binarize modes

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


def test_a_mode_never_binarizes_what_the_config_keeps_real():
    from mmbnn.models.layers import BinaryConv2d, set_binarize_mode
    layer = BinaryConv2d(2, 2, 1, binarize='weights')
    set_binarize_mode(layer, 'activations')
    assert layer.binarize == 'none'
    set_binarize_mode(layer, 'both')
    assert layer.binarize == 'weights'
    with pytest.raises(ValueError, match='binarize mode'):
        set_binarize_mode(layer, 'half')


def test_binarize_mode_hook_restricts_every_binary_layer_before_the_run():
    from types import SimpleNamespace

    from mmengine.logging import MMLogger

    from mmbnn.engine.hooks import BinarizeModeHook
    from mmbnn.models.layers import BinaryConv2d, BinaryLinear
    model = nn.Sequential(BinaryConv2d(2, 2, 1), nn.Conv2d(2, 2, 1),
                          BinaryLinear(2, 2, binarize='weights'))
    logger = MMLogger.get_instance('binarize_mode_hook', log_level='INFO')
    messages = []
    logger.info = messages.append
    runner = SimpleNamespace(model=model, logger=logger)
    BinarizeModeHook('activations').before_run(runner)
    assert [model[0].binarize, model[2].binarize] == ['activations', 'none']
    assert messages == ["BinarizeModeHook: 2 binary layer(s) binarize "
                        "'activations'"]
    BinarizeModeHook('both').before_run(runner)
    assert [model[0].binarize, model[2].binarize] == ['both', 'weights']
    with pytest.raises(ValueError) as e:
        BinarizeModeHook('half')
    assert e.value.args[0] == ("unknown binarize mode 'half'; choose from "
                               "['both', 'activations', 'weights', 'none']")


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


# ------------------------------------------------ two steps in one command

def _two_step_args(work, imagenet_root, *extra, step2_options=()):
    # Step 1: one epoch; step 2: two epochs; a checkpoint every epoch.
    options = [*imagenet_data_options(imagenet_root),
               'train_steps.0.max_epochs=1', 'train_steps.1.max_epochs=2',
               'default_hooks.checkpoint.interval=1',
               'default_hooks.logger.interval=1',
               'train_dataloader.batch_size=8', *step2_options]
    return [TWO_STEP, '--work-dir', work, *extra, '--cfg-options', *options]


def _weights(path):
    from mmbnn.utils.checkpoint import read_checkpoint
    return read_checkpoint(path, map_location='cpu')['state_dict']


def _final(work):
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, imagenet_root):
    work = str(tmp_path_factory.mktemp('two_step'))
    result = tool('train.py', *_two_step_args(work, imagenet_root), env=THREADS)
    return work, result.stdout + result.stderr


def test_two_steps_run_in_one_command(uninterrupted):
    work, out = uninterrupted
    assert re.search(r"BinarizeModeHook: 14 binary layer\(s\) binarize "
                     r"'activations'", out)
    assert re.search(r"BinarizeModeHook: 14 binary layer\(s\) binarize 'both'",
                     out)
    step1 = osp.join(work, 'step1_activations', 'epoch_1.pth')
    assert _final(work) == osp.join(work, 'step2_both', 'epoch_2.pth')
    # Step 2 starts from step 1's last weights, with a fresh optimizer and
    # schedule: each step's first learning rate is the configured 2e-3.
    assert f'Load checkpoint from {step1}' in out
    firsts = re.findall(r'Epoch\(train\) \[1\]\[1/\d+\].*? lr: (\S+)', out)
    assert [float(lr) for lr in firsts] == [2e-3, 2e-3]


def test_step_two_starts_from_step_one_weights(tmp_path, imagenet_root,
                                               uninterrupted):
    """With a zero learning rate step 2 cannot move the weights: its latent
    weights must then be step 1's."""
    work, _ = uninterrupted
    step1 = osp.join(work, 'step1_activations', 'epoch_1.pth')
    alone = str(tmp_path / 'alone')
    tool('train.py', *_two_step_args(
        alone, imagenet_root, '--train-step', '2',
        step2_options=[f'load_from={step1}',
                       'train_steps.1.cfg_options.optim_wrapper.optimizer.lr=0']),
        env=THREADS)
    start, end = _weights(step1), _weights(_final(alone))
    convs = [k for k in start if k.endswith('conv.weight')]
    assert len(convs) == 15  # 14 binary + the real first conv
    assert all(torch.equal(start[k], end[k]) for k in convs)


def test_step_two_alone_needs_step_one(tmp_path, imagenet_root):
    result = tool('train.py', *_two_step_args(str(tmp_path), imagenet_root,
                                              '--train-step', '2'),
                  check=False)
    assert result.returncode == 1
    assert "step 2 starts from step 1's final checkpoint" in result.stderr


def _assert_same_final(work_a, work_b):
    a, b = _weights(_final(work_a)), _weights(_final(work_b))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{len(different)} tensors differ: {different[:3]}'


def test_resume_at_the_step_boundary_equals_uninterrupted(tmp_path,
                                                          imagenet_root,
                                                          uninterrupted):
    work = str(tmp_path)
    tool('train.py', *_two_step_args(work, imagenet_root, '--train-step', '1'),
         env=THREADS)
    assert not osp.exists(osp.join(work, 'step2_both'))
    result = tool('train.py', *_two_step_args(work, imagenet_root, '--resume'),
                  env=THREADS)
    assert "step 1/2 (binarize 'activations') finished before" in (
        result.stdout + result.stderr)
    _assert_same_final(uninterrupted[0], work)


def test_resume_inside_step_two_equals_uninterrupted(tmp_path, imagenet_root,
                                                     uninterrupted):
    work = str(tmp_path)
    # Epoch index 1 exists only in step 2 (step 1 has one epoch).
    killed = run([sys.executable, HARNESS,
                  *_two_step_args(work, imagenet_root)],
                 check=False, env=dict(KILL_AT='iter:1:1', **THREADS))
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not osp.exists(osp.join(work, 'step2_both', 'step_done.json'))
    result = tool('train.py', *_two_step_args(work, imagenet_root, '--resume'),
                  env=THREADS)
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    _assert_same_final(uninterrupted[0], work)


# ------------------------------------------------------------- ReActNet-A

def _hand_count(widths, stem):
    """Parameters of ReActNet-A's backbone, from methods.md 3.3: stem conv +
    BN; per block a 3x3 conv (in x in x 9), its BN, RSign (in) and RPReLU
    (3 per channel); one or two 1x1 convs with BNs, RSign and RPReLU (out)."""
    total = 3 * stem * 9 + 2 * stem
    cin = stem
    for cout in widths:
        total += cin * cin * 9 + 2 * cin + cin + 3 * cin
        total += (cout // cin) * (cin * cin + 2 * cin) + cin + 3 * cout
        cin = cout
    return total


def test_reactnet_a_shapes_and_parameter_count():
    from mmbnn.models.backbones import ReActNetA
    widths = [64, 128, 128, 256, 256] + [512] * 6 + [1024, 1024]
    model = ReActNetA(out_indices=(0, 1, 2, 3, 4))
    assert sum(p.numel() for p in model.parameters()) == _hand_count(widths, 32)
    # With the 1000-way FC: ReActNet-A's published 29.3 M parameters.
    assert round((_hand_count(widths, 32) + 1024 * 1000 + 1000) / 1e6, 1) == 29.3
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4),
        (1, 1024, 2, 2)]
    small = ReActNetA(widen_factor=0.25)
    assert sum(p.numel() for p in small.parameters()) == _hand_count(
        [w // 4 for w in widths], 8)
    binary = [m for m in model.modules() if getattr(m, 'binary_weights', False)]
    assert len(binary) == 13 + 13 + 5  # 3x3 convs, 1x1 convs, doubled ones


def test_reactnet_a_in_classifier_and_detector_configs():
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.registry import MODELS
    from mmpretrain.registry import MODELS as CLS_MODELS

    import mmbnn.plugin  # noqa: F401
    for registry in (MODELS, DET_MODELS, CLS_MODELS):
        net = registry.build(dict(type='ReActNetA', widen_factor=0.25,
                                  out_indices=(3, 4)))
        outs = net(torch.randn(2, 3, 64, 64))
        assert [tuple(o.shape[1:]) for o in outs] == [(128, 4, 4), (256, 2, 2)]
    with pytest.raises(ValueError, match='out_indices'):
        MODELS.build(dict(type='ReActNetA', out_indices=(5, )))


def test_rsign_gradient_is_approxsign_at_the_shifted_input():
    from mmbnn.models.layers import RSign
    from mmbnn.ops import approx_sign
    torch.manual_seed(1)
    rsign = RSign(3)
    with torch.no_grad():
        rsign.bias.copy_(torch.tensor([0.3, -0.2, 0.0]))
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    g = torch.randn_like(x)
    approx_sign(rsign(x.float())).backward(g.float())
    shifted = x + rsign.bias.detach().double().view(1, -1, 1, 1)
    # ApproxSign's derivative: 2 - 2|u| on |u| < 1, 0 elsewhere.
    expected = (g * (2 - 2 * shifted.abs()).clamp_min(0)).sum((0, 2, 3))
    torch.testing.assert_close(rsign.bias.grad.double(), expected,
                               rtol=1e-5, atol=1e-5)


def test_rprelu_forward_and_gradients_match_its_formula():
    from mmbnn.models.layers import RPReLU
    torch.manual_seed(2)
    act = RPReLU(2).double()
    with torch.no_grad():
        act.gamma.copy_(torch.tensor([0.5, -0.5]))
        act.zeta.copy_(torch.tensor([1.0, 2.0]))
        act.prelu.weight.copy_(torch.tensor([0.25, 0.1]))
    x = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    g = torch.randn_like(x)
    out = act(x)
    u = x - act.gamma.detach().view(1, -1, 1, 1)
    beta = act.prelu.weight.detach().view(1, -1, 1, 1)
    torch.testing.assert_close(out, torch.where(u > 0, u, beta * u) +
                               act.zeta.detach().view(1, -1, 1, 1))
    out.backward(g)
    slope = torch.where(u > 0, torch.ones_like(u), beta)
    torch.testing.assert_close(act.zeta.grad, g.sum((0, 2, 3)))
    torch.testing.assert_close(act.gamma.grad, -(g * slope).sum((0, 2, 3)))
    torch.testing.assert_close(act.prelu.weight.grad,
                               (g * torch.where(u > 0, 0 * u, u)).sum((0, 2, 3)))


# ------------------------------------------------------------ diagnostics

# mmengine keeps one logger and visualizer per experiment name in a process:
# each toy run gets a name of its own.
_RUNS = itertools.count()


def _toy_model():
    from mmengine.model import BaseModel

    from mmbnn.models.layers import BinaryConv2d

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.conv = BinaryConv2d(3, 8, 3, padding=1, bias=False,
                                     weight_estimator='ste',
                                     activation_estimator='ste')
            self.head = nn.Linear(8, 4)

        def forward(self, inputs, labels, mode='loss'):
            logits = self.head(self.conv(inputs).mean((2, 3)))
            return dict(loss=F.cross_entropy(logits, labels))
    return Toy()


class _Recorder:
    """Keeps a numpy copy of the binary layer's latent weight at the start
    and after every iteration: the independent record."""

    def __new__(cls):
        from mmengine.hooks import Hook

        class Recorder(Hook):
            priority = 'LOWEST'

            def __init__(self):
                self.weights = []

            def before_train(self, runner):
                self.weights.append(runner.model.conv.weight.detach().numpy().copy())

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                self.weights.append(runner.model.conv.weight.detach().numpy().copy())
        return Recorder()


def test_ff_and_c2i_equal_an_independent_count(tmp_path):
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    recorder = _Recorder()
    hook = BNNDiagnosticsHook(interval=3)
    runner = _toy_runner(tmp_path, [hook, recorder], epochs=2, interval=1,
                         name='ff_and_c2i')
    runner.train()

    signs = [np.where(w >= 0, 1, -1) for w in recorder.weights]
    ff = [np.abs(b - a).sum() / (2 * a.size) for a, b in zip(signs, signs[1:])]
    assert len(ff) == 12 and max(ff) > 0  # the run did flip signs
    p = np.mean(signs[-1] != signs[0])

    with open(osp.join(runner.log_dir, 'bnn_diagnostics.json')) as f:
        summary = json.load(f)
    np.testing.assert_allclose(summary['ff_ratio_per_iter'], ff, rtol=1e-12)
    assert summary['ff_ratio_mean'] == pytest.approx(np.mean(ff), rel=1e-12)
    assert summary['ff_ratio_per_epoch'] == pytest.approx(
        [np.mean(ff[:6]), np.mean(ff[6:])], rel=1e-12)
    assert summary['c2i_p'] == pytest.approx(p)
    assert summary['c2i'] == pytest.approx(1 - p)
    layer = summary['layers']['conv']
    assert layer['c2i'] == pytest.approx(1 - p)
    assert layer['ff_ratio_mean'] == pytest.approx(np.mean(ff), rel=1e-12)
    assert layer['numel'] == summary['num_latent_weights'] == signs[0].size
    assert summary['iterations'] == 12
    assert sum(layer['abs_latent_histogram']['counts']) == signs[0].size
    assert 0 <= layer['act_saturation'] <= 1
    for name in ('bnn_ff_ratio', 'bnn_c2i', 'bnn_latent_weights'):
        with open(osp.join(runner.log_dir, name + '.png'), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
        # And to the visualizer under its name, at the last iteration.
        assert osp.isfile(osp.join(runner.log_dir, 'vis_data', 'vis_image',
                                   f'{name}_12.png'))

    # What was logged equals the JSON: every iteration to the visualizer,
    # the mean of each 3-iteration interval in the text log.
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        logged = [json.loads(line) for line in f]
    per_iter = {r['step']: r['bnn/ff_ratio'] for r in logged
                if 'bnn/ff_ratio' in r}
    assert per_iter == {i + 1: pytest.approx(v, rel=1e-12)
                        for i, v in enumerate(ff)}
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        text = f.read()
    in_log = [float(v) for v in re.findall(r'bnn_ff_ratio: ([0-9.e+-]+)',
                                           text)]
    # Logged from iteration 3 on: the latest flushed interval's mean.
    means = [np.mean(ff[i:i + 3]) for i in range(0, 12, 3)]
    assert in_log == pytest.approx([means[0]] * 3 + [means[1]] * 3 +
                                   [means[2]] * 3 + [means[3]], abs=6e-5)


def _toy_runner(work_dir, hooks, model=None, epochs=1, checkpoint=False,
                name='toy', load_from=None, resume=False, interval=4,
                iterations=None):
    """The toy model on 24 fixed samples, 6 batches an epoch; ``iterations``
    trains by iterations instead of ``epochs``. ``checkpoint``: False, True
    (every epoch) or a CheckpointHook config."""
    from mmengine.runner import Runner

    import mmbnn.plugin  # noqa: F401
    torch.manual_seed(0)
    data = [dict(inputs=torch.randn(3, 6, 6), labels=int(i % 4))
            for i in range(24)]
    if checkpoint is True:
        checkpoint = dict(type='CheckpointHook', interval=1)
    return Runner(
        model=model or _toy_model(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=data, batch_size=4, num_workers=0,
                              sampler=dict(type='InfiniteSampler' if iterations
                                           else 'DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=2.0)),
        train_cfg=dict(by_epoch=False, max_iters=iterations) if iterations
        else dict(by_epoch=True, max_epochs=epochs),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=interval),
                           checkpoint=checkpoint or None),
        custom_hooks=hooks, default_scope='mmengine',
        experiment_name=f'{name}_{next(_RUNS)}', load_from=load_from,
        resume=resume)


def test_c2i_against_the_first_steps_start_equals_an_independent_count(tmp_path):
    """Two runs in a row, as two-step training does: the second's C2I is
    counted against its own start and, through ``reference_checkpoint``,
    against the first run's start. The interval defaults to the logger's."""
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    first_rec = _Recorder()
    first = _toy_runner(tmp_path / 'a', [BNNDiagnosticsHook(plots=False),
                                         first_rec], checkpoint=True, name='a')
    first.train()
    hook = BNNDiagnosticsHook(plots=False,
                              reference_checkpoint=str(tmp_path / 'a' /
                                                       'epoch_1.pth'))
    rec = _Recorder()
    second = _toy_runner(tmp_path / 'b', [hook, rec], model=first.model,
                         name='b')
    second.train()
    assert hook.interval == 4  # the LoggerHook's
    sign = lambda w: np.where(w >= 0, 1, -1)  # noqa: E731
    start_a, start_b, end_b = (sign(first_rec.weights[0]),
                               sign(rec.weights[0]), sign(rec.weights[-1]))
    assert (start_b != start_a).any()  # the first run moved the signs
    with open(osp.join(second.log_dir, 'bnn_diagnostics.json')) as f:
        summary = json.load(f)
    assert summary['c2i'] == pytest.approx(1 - np.mean(end_b != start_b))
    assert summary['c2i_first_step'] == pytest.approx(
        1 - np.mean(end_b != start_a))
    assert summary['c2i_first_step_p'] == pytest.approx(np.mean(end_b != start_a))
    assert summary['layers']['conv']['c2i_first_step'] == pytest.approx(
        summary['c2i_first_step'])


def test_diagnostics_refuses_bad_settings_and_references(tmp_path):
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    with pytest.raises(ValueError, match='interval must be >= 1, got 0'):
        BNNDiagnosticsHook(interval=0)
    BNNDiagnosticsHook(interval=1, hist_bins=2)  # the smallest allowed
    with pytest.raises(ValueError, match='hist_bins must be >= 2, got 1'):
        BNNDiagnosticsHook(hist_bins=1)
    plain = tmp_path / 'plain.pth'
    torch.save({'meta': {}, 'state_dict': _toy_model().state_dict()}, plain)
    runner = _toy_runner(tmp_path / 'c', [BNNDiagnosticsHook(
        reference_checkpoint=str(plain))], name='c')
    with pytest.raises(KeyError, match="holds no 'bnn_diagnostics' state"):
        runner.train()


def _summary(runner):
    with open(osp.join(runner.log_dir, 'bnn_diagnostics.json')) as f:
        return json.load(f)


def _scalars(runner):
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f]


def test_diagnostics_per_epoch_and_saturation_equal_an_independent_count(
        tmp_path):
    """Each epoch's C2I, p and FF mean (visualizer at the 1-based epoch, text
    log), and the activation saturation sampled on every 4th iteration only
    (not at the end of an epoch, iteration 6), against counts from the
    recorded weights and inputs."""
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    model, inputs, rec = _toy_model(), [], _Recorder()
    model.conv.register_forward_pre_hook(
        lambda m, args: inputs.append(args[0].detach().numpy().copy()))
    runner = _toy_runner(tmp_path, [BNNDiagnosticsHook(interval=4, plots=False),
                                    rec], model=model, epochs=2, interval=1)
    runner.train()
    assert len(inputs) == 12
    sign = lambda w: np.where(w >= 0, 1, -1)  # noqa: E731
    signs = [sign(w) for w in rec.weights]
    ff = [np.mean(a != b) for a, b in zip(signs, signs[1:])]
    sampled = {i + 1: np.mean(np.abs(inputs[i]) > 1) for i in (3, 7, 11)}
    assert len(set(sampled.values())) > 1  # the samples differ

    logged = _scalars(runner)
    per_epoch = {r['step']: r for r in logged if 'bnn/c2i' in r}
    assert sorted(per_epoch) == [1, 2]
    for epoch in (1, 2):
        p = np.mean(signs[6 * epoch] != signs[0])
        assert per_epoch[epoch]['bnn/c2i'] == pytest.approx(1 - p)
        assert per_epoch[epoch]['bnn/c2i_p'] == pytest.approx(p)
        assert per_epoch[epoch]['bnn/ff_ratio_epoch'] == pytest.approx(
            np.mean(ff[6 * epoch - 6:6 * epoch]), rel=1e-12)
    saturation = {r['step']: r['bnn/conv/act_saturation'] for r in logged
                  if 'bnn/conv/act_saturation' in r}
    assert saturation == pytest.approx(sampled)
    assert _summary(runner)['layers']['conv']['act_saturation'] == \
        pytest.approx(np.mean(list(sampled.values())))

    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        text = f.read()
    lines = re.findall(r'BNN diagnostics, epoch (\d+): FF mean ([0-9.e+-]+), '
                       r'C2I ([0-9.]+) \(p ([0-9.]+)\)', text)
    assert [int(e) for e, *_ in lines] == [1, 2]
    for (_, ff_mean, c2i, p), epoch in zip(lines, (1, 2)):
        assert float(c2i) == pytest.approx(per_epoch[epoch]['bnn/c2i'], abs=6e-5)
        assert float(p) == pytest.approx(per_epoch[epoch]['bnn/c2i_p'], abs=6e-5)
        assert float(ff_mean) == pytest.approx(
            per_epoch[epoch]['bnn/ff_ratio_epoch'], rel=1e-3)
    # The message hub's C2I reaches the text log's next line.
    in_log = [float(v) for v in re.findall(r'bnn_c2i: ([0-9.]+)', text)]
    assert in_log and in_log[0] == pytest.approx(per_epoch[1]['bnn/c2i'],
                                                 abs=6e-5)


def test_diagnostics_carry_over_a_checkpoint_as_if_never_stopped(tmp_path):
    """A run continued from its epoch-1 checkpoint writes the same
    diagnostics, every number, as the run that never stopped."""
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    whole = _toy_runner(tmp_path / 'whole', [BNNDiagnosticsHook(
        interval=3, plots=False)], epochs=2, checkpoint=True, name='whole')
    whole.train()
    again = _toy_runner(tmp_path / 'again', [BNNDiagnosticsHook(
        interval=3, plots=False)], epochs=2, name='again', resume=True,
        load_from=str(tmp_path / 'whole' / 'epoch_1.pth'))
    again.train()
    expected, continued = _summary(whole), _summary(again)
    assert expected['iterations'] == 12 and len(expected['ff_ratio_per_epoch']) == 2
    assert expected['layers']['conv']['act_saturation'] > 0
    assert continued == expected


def test_diagnostics_of_an_iteration_based_run_count_every_iteration(
        tmp_path):
    """By iterations, 5 with an interval of 3: the last two are counted at
    the end of training, not lost."""
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    rec = _Recorder()
    runner = _toy_runner(
        tmp_path, [BNNDiagnosticsHook(interval=3, plots=False), rec],
        iterations=5, interval=1, name='by_iteration',
        checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False,
                        save_last=False))
    runner.train()
    signs = [np.where(w >= 0, 1, -1) for w in rec.weights]
    ff = [np.mean(a != b) for a, b in zip(signs, signs[1:])]
    summary = _summary(runner)
    assert len(ff) == 5
    assert summary['ff_ratio_per_iter'] == pytest.approx(ff, rel=1e-12)
    # The checkpoint at iteration 4 holds the first four, pending ones too.
    from mmbnn.utils.checkpoint import read_checkpoint
    saved = read_checkpoint(str(tmp_path / 'iter_4.pth'))['bnn_diagnostics']
    assert saved['ff_iters'].tolist() == pytest.approx(ff[:4], rel=1e-12)


def test_diagnostics_without_saved_state_count_from_the_loaded_weights(
        tmp_path):
    """Continued from a checkpoint without diagnostics: a warning says so and
    C2I counts from the loaded weights. Started with ``load_from`` (not a
    continuation) from one with diagnostics: that state is not carried."""
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    plain = _toy_runner(tmp_path / 'plain', [], epochs=1, checkpoint=True,
                        name='plain')
    plain.train()
    rec = _Recorder()
    again = _toy_runner(tmp_path / 'again', [BNNDiagnosticsHook(plots=False),
                                             rec], epochs=2, name='no_state',
                        resume=True,
                        load_from=str(tmp_path / 'plain' / 'epoch_1.pth'))
    again.train()
    with open(osp.join(again.log_dir, f'{again.timestamp}.log')) as f:
        assert ('BNNDiagnosticsHook: the resumed checkpoint holds no '
                'diagnostics; FF and C2I count from the resumed weights\n'
                in f.read())
    sign = lambda w: np.where(w >= 0, 1, -1)  # noqa: E731
    summary = _summary(again)
    assert summary['iterations'] == 6
    assert summary['c2i'] == pytest.approx(
        1 - np.mean(sign(rec.weights[-1]) != sign(rec.weights[0])))

    first = _toy_runner(tmp_path / 'first', [BNNDiagnosticsHook(plots=False)],
                        epochs=1, checkpoint=True, name='first')
    first.train()
    rec = _Recorder()
    fresh = _toy_runner(tmp_path / 'fresh', [BNNDiagnosticsHook(plots=False),
                                             rec], epochs=1, name='fresh',
                        load_from=str(tmp_path / 'first' / 'epoch_1.pth'))
    fresh.train()
    summary = _summary(fresh)
    assert summary['iterations'] == 6
    assert summary['c2i'] == pytest.approx(
        1 - np.mean(sign(rec.weights[-1]) != sign(rec.weights[0])))


def test_diagnostics_refuse_a_model_without_binary_layers_and_other_runs(
        tmp_path):
    from types import SimpleNamespace

    from mmbnn.engine.hooks import BNNDiagnosticsHook
    model = _toy_model()
    model.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    runner = _toy_runner(tmp_path / 'fp', [BNNDiagnosticsHook()], model=model,
                         name='fp')
    with pytest.raises(RuntimeError, match='^BNNDiagnosticsHook: the model has '
                       'no binary layers to diagnose$'):
        runner.train()
    # No LoggerHook to take the interval from: every 50 iterations.
    hook = BNNDiagnosticsHook()
    hook.before_train(SimpleNamespace(model=_toy_model(), hooks=[], iter=0))
    assert hook.interval == 50
    before = hook.summary()  # no iteration yet: zeros, not NaN
    assert before['ff_ratio_mean'] == 0.0 and before['iterations'] == 0
    assert before['layers']['conv']['ff_ratio_mean'] == 0.0

    # A reference run whose binary layers are not this model's.
    other = _toy_model()
    other.conv2 = type(other.conv)(3, 8, 1)
    first = _toy_runner(tmp_path / 'a', [BNNDiagnosticsHook(plots=False)],
                        model=other, checkpoint=True, name='a')
    first.train()
    path = str(tmp_path / 'a' / 'epoch_1.pth')
    runner = _toy_runner(tmp_path / 'b', [BNNDiagnosticsHook(
        reference_checkpoint=path)], name='b')
    with pytest.raises(ValueError, match=re.escape(
            f"the binary layers in {path} (2) are not this model's (1); first "
            "differences: ['conv2']")):
        runner.train()
    # The same, continuing that run's diagnostics with this model.
    from mmbnn.utils.checkpoint import read_checkpoint
    hook = BNNDiagnosticsHook()
    hook.after_load_checkpoint(None, read_checkpoint(path))
    with pytest.raises(ValueError) as e:
        hook.before_train(SimpleNamespace(model=_toy_model(), hooks=[], iter=6))
    assert e.value.args[0] == (
        "the binary layers in the resumed checkpoint (2) are not this model's "
        "(1); first differences: ['conv2']")


def test_saturation_is_sampled_from_training_forwards_only():
    """A validation forward between a sampling iteration and the next is not
    sampled; a training forward is, by the formula."""
    from types import SimpleNamespace

    from mmbnn.engine.hooks import BNNDiagnosticsHook
    model = _toy_model()
    hook = BNNDiagnosticsHook(interval=1)
    hook.before_train(SimpleNamespace(model=model, hooks=[], iter=0))
    hook._sampling = True  # as before_train_iter sets it on iteration 1
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0)) * 2
    model.eval()
    model.conv(x)
    assert hook._sampled == {}
    model.train()
    model.conv(x)
    assert list(hook._sampled) == [0]
    assert hook._sampled[0].item() == pytest.approx((x.abs() > 1).float().mean().item())


def test_diagnostics_primitives_by_hand():
    from mmbnn.ops import abs_histogram, count_flips, latent_signs
    from mmbnn.ops.bits import pack_bool_bytes as pack_bits
    from mmbnn.ops.bits import unpack_bool_bytes as unpack_bits
    signs, = latent_signs([torch.tensor([-1.0, 0.0, 2.0])])
    assert signs.tolist() == [False, True, True]  # sign(0) = +1
    with pytest.raises(ValueError, match='2 tensors before, 1 after'):
        count_flips([signs, signs], [signs])
    # |w| = 3, 1, 0.5, 2.9 over [0, 3] in 3 bins: [0, 1), [1, 2), [2, 3].
    edges, counts = abs_histogram(torch.tensor([-3.0, 1.0, 0.5, 2.9]), 3)
    assert edges == [0.0, 1.0, 2.0, 3.0] and counts == [1, 1, 2]
    edges, counts = abs_histogram(torch.zeros(5), 2)  # all zero: [0, 1]
    assert edges == [0.0, 0.5, 1.0] and counts == [5, 0]
    edges, counts = abs_histogram(torch.zeros(0), 2)
    assert edges == [0.0, 0.5, 1.0] and counts == [0, 0]
    bits = torch.tensor([1, 0, 1, 1, 0, 0, 0, 0, 1], dtype=torch.bool)
    packed = pack_bits(bits)
    assert packed.tolist() == [0b10110000, 0b10000000]  # high bit first
    assert packed.dtype == torch.uint8  # one byte per eight signs
    # Over [0, max|w|] also when max|w| < 1: |w| = 0.5, 0.1 in 2 bins.
    edges, counts = abs_histogram(torch.tensor([0.5, -0.1]), 2)
    assert edges == pytest.approx([0.0, 0.25, 0.5]) and counts == [1, 1]
    assert torch.equal(unpack_bits(packed, (3, 3)), bits.view(3, 3))
    with pytest.raises(ValueError, match='2 bytes cannot hold'):
        unpack_bits(packed, (4, 5))


def test_reactnet_block_forward_by_hand():
    """A doubling, strided block rebuilt from functional ops (real convs):
    u = rprelu1(bn1(conv3x3(x + b1)) + avgpool(x)); out = rprelu2(cat_i
    (bn2_i(conv1x1_i(u + b2)) + u))."""
    from mmbnn.models.backbones.reactnet import ReActNetA
    from mmbnn.models.layers.reactnet import ReActBlock

    def rprelu(act, v):
        c = (1, -1, 1, 1)
        u = v - act.gamma.view(c)
        return torch.where(u > 0, u, act.prelu.weight.view(c) * u) + \
            act.zeta.view(c)

    def bn(layer, v):
        return F.batch_norm(v, layer.running_mean, layer.running_var,
                            layer.weight, layer.bias, False, 0.0, layer.eps)

    torch.manual_seed(0)
    block = ReActBlock(4, 8, 2, None, dict(type='BN')).eval()
    for p in block.parameters():
        p.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 4, 6, 6)
    shift = lambda v, rs: v + rs.bias.view(1, -1, 1, 1)  # noqa: E731
    u = rprelu(block.rprelu1, bn(block.bn1, F.conv2d(
        shift(x, block.rsign1), block.conv3x3.weight, stride=2, padding=1))
        + F.avg_pool2d(x, 2))
    s = shift(u, block.rsign2)
    expected = rprelu(block.rprelu2, torch.cat(
        [bn(b, F.conv2d(s, c.weight)) + u
         for c, b in zip(block.pointwise, block.bn2)], 1))
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)
    with pytest.raises(ValueError, match='keeps or doubles its channels, '
                       'got 4 -> 12'):
        ReActBlock(4, 12, 1, None, dict(type='BN'))
    model = ReActNetA(widen_factor=0.25)
    assert model.out_channels == [16, 32, 64, 128, 256]
    with pytest.raises(ValueError, match='widen_factor must be > 0, got 0'):
        ReActNetA(widen_factor=0)
