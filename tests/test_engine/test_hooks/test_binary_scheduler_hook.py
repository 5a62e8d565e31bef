"""mmbnn/engine/hooks/binary_scheduler_hook.py: (k, t, stage) follow the
schedule per iteration and across a resume; the logged ratios against
numpy counts of the recorded weights and inputs."""
import json
import math
import types

import numpy as np
import pytest
import torch.nn as nn
from mmengine.hooks import Hook

from mmbnn.engine.hooks import BinarySchedulerHook
from mmbnn.models.layers import BinaryConv2d
from mmbnn.ops import dte_schedule, ede_schedule
from reference import numpy_t_cap
from toy import toy_net, toy_runner


def _two_convs():
    """A DTE conv with its cap and an EDE conv, 3 -> 4 -> 2 channels."""
    return toy_net(BinaryConv2d(3, 4, 3, padding=1),
                   BinaryConv2d(4, 2, 1, activation_estimator='ede'))


class _Record(Hook):
    """Records (k, t, stage) of every layer as seen by each iteration."""
    priority = 'LOW'

    def __init__(self, seen):
        self.seen = seen

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        layers = [m for m in runner.model.modules() if isinstance(m, BinaryConv2d)]
        self.seen[runner.iter] = [(float(m.k), float(m.t), int(m.stage))
                                  for m in layers]


def _runner(work_dir, max_iters, seen, resume=False, model=None, hooks=(),
            **hook_kwargs):
    return toy_runner(
        work_dir, [BinarySchedulerHook(log_interval=2, **hook_kwargs),
                   _Record(seen), *hooks],
        model=model or _two_convs(), iterations=max_iters, samples=16,
        optimizer=dict(type='Adam', lr=1e-2), shuffle=True,
        checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False),
        log_interval=1, resume=resume, name='scheduler')


def test_values_follow_the_schedule_per_iteration(tmp_path):
    seen = {}
    _runner(tmp_path, 10, seen, t_min=0.01, t_max=100.0).train()
    assert sorted(seen) == list(range(10))
    for it, layers in seen.items():
        k, t, stage = dte_schedule(it / 10, 0.01, 100.0)
        for lk, lt, ls in layers:
            assert (lk, ls) == (pytest.approx(k), stage)
            assert lt == pytest.approx(t, rel=1e-6)
    assert {s for layers in seen.values() for *_, s in layers} == {1, 2}


def test_ede_schedule_option(tmp_path):
    seen = {}
    _runner(tmp_path, 4, seen, schedule='ede').train()
    for it, layers in seen.items():
        k, t = ede_schedule(it / 4)
        assert layers[0][:2] == (pytest.approx(k), pytest.approx(t, rel=1e-6))


def test_resumed_run_continues_with_the_same_values(tmp_path):
    full, first, second = {}, {}, {}
    _runner(tmp_path / 'full', 8, full).train()
    _runner(tmp_path / 'part', 4, first).train()
    # Resume from iter_4.pth of the 4-iteration run, now aiming at 8.
    _runner(tmp_path / 'part', 8, second, resume=True).train()
    assert sorted(second) == [4, 5, 6, 7]
    for it in range(4, 8):
        assert second[it] == full[it]
    assert full[4] != full[7]


def test_updating_ratios_reach_the_log(tmp_path):
    runner = _runner(tmp_path, 4, {})
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert 'train/bnn_t' in scalars and 'train/bnn_k' in scalars
    for key in ('train/bnn_act_ratio_min', 'train/bnn_weight_ratio_mean',
                'train/bnn_act_saturation_mean'):
        value = scalars[key].current()
        assert 0.0 <= value <= 1.0, key


class _Inputs(Hook):
    """Each iteration's latent weights (as the forward sees them) and the
    input of every binary conv, as float64 numpy arrays."""
    priority = 'LOW'

    def __init__(self):
        self.weights, self.inputs = [], []

    def before_train(self, runner):
        for name in ('conv1', 'conv2'):
            getattr(runner.model, name).register_forward_pre_hook(
                lambda m, args, name=name: self.inputs[-1].__setitem__(
                    name, args[0].detach().double().numpy()))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.inputs.append({})
        self.weights.append({n: getattr(runner.model, n).weight.detach()
                             .double().numpy().copy()
                             for n in ('conv1', 'conv2')})


def _hand_ratio(x, t, delta):
    return np.mean(1 - np.tanh(t * np.abs(x)) ** 2 >= delta)


def test_updating_ratios_and_saturation_equal_a_hand_count(tmp_path):
    """Every 2nd iteration each binary layer reports its updating ratios
    (methods.md 1.2, under DTE's caps in stage 2) and saturation; checked
    against numpy counts of the recorded weights and inputs, with
    non-default epsilon, delta and cap momentum."""
    model = _two_convs()
    model.conv1 = BinaryConv2d(3, 4, 3, padding=1, epsilon=0.6, delta=0.05,
                               act_cap_momentum=0.8, max_gain=1.5,
                               weight_max_gain=2.0)
    model.conv2 = BinaryConv2d(4, 2, 1, activation_estimator='ede',
                               epsilon=0.2, delta=0.15)
    seen, rec = {}, _Inputs()
    runner = _runner(tmp_path, 4, seen, model=model, hooks=[rec])
    runner.train()
    logged = {}
    with open(f'{runner.log_dir}/vis_data/scalars.json') as f:
        for line in f:
            record = json.loads(line)
            logged.setdefault(record.pop('step'), {}).update(record)

    def standardized(w):
        flat = w.reshape(len(w), -1)
        flat = flat - flat.mean(1, keepdims=True)
        return flat / flat.std(1, ddof=1, keepdims=True)

    x1 = [inputs['conv1'] for inputs in rec.inputs]
    ema = None
    for it in range(4):  # the activation cap's running average, by hand
        if seen[it][0][2] == 2:
            cap = numpy_t_cap(x1[it], 0.6, 0.05, max_gain=1.5)
            ema = cap if ema is None else math.exp(
                0.8 * math.log(ema) + 0.2 * math.log(cap))
        if it == 1:
            assert ema is None  # stage 1 at iteration 2: no cap yet
    assert [seen[it][0][2] for it in (1, 3)] == [1, 2]
    for it in (1, 3):  # tracked: 1-based iterations 2 and 4
        (_, t, stage), _ = seen[it]
        w1 = standardized(rec.weights[it]['conv1'])
        t_w = t if stage == 1 else min(t, numpy_t_cap(w1, 0.6, 0.05, 2.0))
        t_a = t if stage == 1 else min(t, ema)
        expected = {
            'bnn/conv1/weight_ratio': _hand_ratio(w1, t_w, 0.05),
            'bnn/conv1/act_ratio': _hand_ratio(x1[it], t_a, 0.05),
            'bnn/conv1/act_saturation': np.mean(np.abs(x1[it]) > 1),
            'bnn/conv2/weight_ratio': _hand_ratio(
                standardized(rec.weights[it]['conv2']),
                t if stage == 1 else min(t, numpy_t_cap(standardized(
                    rec.weights[it]['conv2']), 0.2, 0.15, None)), 0.15),
            'bnn/conv2/act_ratio': _hand_ratio(rec.inputs[it]['conv2'], t, 0.15),
            'bnn/conv2/act_saturation': np.mean(
                np.abs(rec.inputs[it]['conv2']) > 1)}
        t_w2 = t if stage == 1 else min(t, numpy_t_cap(standardized(
            rec.weights[it]['conv2']), 0.2, 0.15, None))
        got = {k: v for k, v in logged[it + 1].items() if k.startswith('bnn/')}
        # The t each estimator used (the schedule's, or DTE's bound).
        for key, value in (('conv1/weight_t', t_w), ('conv1/act_t', t_a),
                           ('conv2/weight_t', t_w2), ('conv2/act_t', t)):
            assert got.pop('bnn/' + key) == pytest.approx(value, rel=1e-5), key
        # One element may sit on the threshold (the cap puts the quantile
        # element there): float32 and float64 may round it either way.
        size = dict(conv1=(108, x1[it].size),
                    conv2=(8, rec.inputs[it]['conv2'].size))
        assert got == {k: pytest.approx(v, abs=1.01 / size[k.split('/')[1]][
            'weight' not in k]) for k, v in expected.items()}, it
        assert got['bnn/conv1/weight_ratio'] >= 0.6 or stage == 1
        assert stage == 1 or (t_w < t and t_a < t)  # the caps bind
    assert sorted(k for k, r in logged.items()
                  if 'bnn/conv1/act_ratio' in r) == [2, 4]
    hub = runner.message_hub.log_scalars
    last = {k: v for k, v in logged[4].items() if k.startswith('bnn/')}
    for key in ('weight_ratio', 'act_ratio', 'act_saturation', 'weight_t',
                'act_t'):
        values = [v for k, v in last.items() if k.endswith(key)]
        assert hub[f'train/bnn_{key}_min'].current() == pytest.approx(min(values))
        assert hub[f'train/bnn_{key}_mean'].current() == pytest.approx(
            np.mean(values))
    assert hub['train/bnn_stage'].current() == 2
    assert all(not m.track_stats and m.stats == {}
               for m in (model.conv1, model.conv2))


@pytest.mark.parametrize('interval,steps', [(4, [4, 10]), (8, [6, 12])])
def test_statistics_are_those_of_the_iterations_the_logger_writes(
        tmp_path, interval, steps):
    """Epochs of 6 iterations: the LoggerHook writes every 4th iteration of
    an epoch (not of the run) and, when the epoch is no longer than its
    interval, the epoch's last; the statistics in each line must be that
    iteration's, not an earlier one's."""
    runner = toy_runner(tmp_path, [BinarySchedulerHook()], model=_two_convs(),
                        epochs=2, samples=24, log_interval=interval,
                        name='tracked')
    runner.train()
    with open(f'{runner.log_dir}/vis_data/scalars.json') as f:
        records = [json.loads(line) for line in f]
    assert sorted(r['step'] for r in records
                  if 'bnn/conv1/act_ratio' in r) == steps


def test_bad_hook_arguments():
    with pytest.raises(ValueError, match='schedule'):
        BinarySchedulerHook(schedule='cosine')
    with pytest.raises(ValueError, match='t_min'):
        BinarySchedulerHook(t_min=2.0, t_max=1.0)


def test_progress_is_the_finished_fraction_capped_at_one():
    hook = BinarySchedulerHook(by_epoch=True)
    runner = types.SimpleNamespace(epoch=3, max_epochs=4, iter=1, max_iters=1)
    assert hook.progress(runner) == 0.75
    runner.epoch = 1
    runner.max_epochs = 1
    assert hook.progress(runner) == 1.0
    runner.epoch = 5
    runner.max_epochs = 4
    assert hook.progress(runner) == 1.0
    by_iter = BinarySchedulerHook()
    runner = types.SimpleNamespace(epoch=0, max_epochs=1, iter=1, max_iters=1)
    assert by_iter.progress(runner) == 1.0
    runner.iter, runner.max_iters = 3, 12
    assert by_iter.progress(runner) == 0.25
    runner.iter = 15
    assert by_iter.progress(runner) == 1.0


def test_hook_passes_its_schedule_arguments():
    # DTE with boundary 0.5: stage 2 starts at p = 0.5 with t = 1, and t
    # reaches t_max = 4 at the end.
    dte = BinarySchedulerHook(t_min=0.25, t_max=4.0, boundary=0.5)
    assert dte.values(0.5) == (1.0, 1.0, 2)
    assert dte.values(0.25) == pytest.approx((2.0, 0.5, 1))
    assert dte.values(1.0) == (1.0, 4.0, 2)
    ede = BinarySchedulerHook(schedule='ede', t_min=0.25, t_max=4.0)
    # EDE: t = t_min (t_max / t_min)^p, k = max(1 / t, 1), one stage.
    assert ede.values(1.0) == pytest.approx((1.0, 4.0, 1))
    assert ede.values(0.25) == pytest.approx((2.0, 0.5, 1))
    # A boundary other than the default one (0.5 for these t) is passed on.
    assert BinarySchedulerHook(t_min=0.25, t_max=4.0,
                               boundary=0.25).values(0.25) == (1.0, 1.0, 2)
    # The documented default: the LoggerHook's interval, else 50.
    from mmengine.hooks import LoggerHook
    for hooks, interval in (([LoggerHook(interval=7)], 7), ([], 50)):
        hook = BinarySchedulerHook()
        assert hook.log_interval is None
        hook.before_train(types.SimpleNamespace(model=_two_convs(), hooks=hooks))
        assert hook.log_interval == interval
    assert BinarySchedulerHook(log_interval=3).log_interval == 3
    BinarySchedulerHook(log_interval=1)  # the smallest allowed
    with pytest.raises(ValueError, match='log_interval must be >= 1, got 0'):
        BinarySchedulerHook(log_interval=0)
    with pytest.raises(ValueError, match='DTE needs t_min < 1 < t_max'):
        BinarySchedulerHook(t_min=1.0)  # checked at construction


def test_scheduler_warns_when_there_is_nothing_to_schedule():
    warnings = []
    runner = types.SimpleNamespace(
        model=nn.Sequential(nn.Conv2d(2, 2, 1)), hooks=[],
        logger=types.SimpleNamespace(warning=warnings.append))
    BinarySchedulerHook().before_train(runner)
    assert warnings == ['BinarySchedulerHook: the model has no binary layers; '
                        'nothing to schedule']
    runner.model = _two_convs()
    BinarySchedulerHook().before_train(runner)
    assert len(warnings) == 1


def _iteration_runner(hooks, length, it=0, max_iters=10):
    from mmengine.logging import MessageHub
    from mmengine.runner import EpochBasedTrainLoop
    return types.SimpleNamespace(
        model=_two_convs(), hooks=hooks, iter=it, max_iters=max_iters,
        train_loop=EpochBasedTrainLoop.__new__(EpochBasedTrainLoop),
        train_dataloader=range(length),
        message_hub=MessageHub.get_instance('scheduler_unit'))


def test_the_last_iteration_of_an_epoch_is_tracked_as_the_logger_logs_it():
    """Statistics are gathered on the last iteration of an epoch when the
    LoggerHook writes a line there: with ``ignore_last=False``, or when the
    epoch is no longer than the interval; without a LoggerHook, by its
    defaults (interval 50, ``ignore_last=True``)."""
    from mmengine.hooks import LoggerHook
    for hooks, length, tracked in (
            ([LoggerHook(interval=4, ignore_last=False)], 6, True),
            ([LoggerHook(interval=4)], 6, False),
            ([], 60, False),
            ([], 30, True)):
        runner = _iteration_runner(hooks, length)
        hook = BinarySchedulerHook()
        hook.before_train(runner)
        hook.before_train_iter(runner, length - 1)
        assert runner.model.conv1.track_stats is tracked, (hooks, length)
        hook.before_train_iter(runner, length - 2)  # never logged here
        assert runner.model.conv1.track_stats is False


def test_the_stage_buffer_is_written_only_when_the_stage_changes():
    """Every fill bumps the buffer's version and makes the layer read the
    stage from the device again (a host sync on CUDA): the hook writes it
    on the first iteration and when the stage changes, not every time."""
    runner = _iteration_runner([], 100)
    hook = BinarySchedulerHook(boundary=0.5)
    hook.before_train(runner)
    layer = runner.model.conv1
    versions = []
    for it in range(10):
        runner.iter = it
        hook.before_train_iter(runner, it)
        versions.append((int(layer.stage), layer.stage._version))
    first = versions[0][1]
    assert versions == [(1, first)] * 5 + [(2, first + 1)] * 5
