"""mmbnn/engine/hooks/bnn_diagnostics_hook.py: FF, C2I and saturation against
an independent record of the toy run's weights and inputs."""
import json
import os.path as osp
import re

import numpy as np
import pytest
import torch
import torch.nn as nn

from toy import toy_net, toy_runner


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
                self.weights.append(runner.model.conv1.weight.detach().numpy().copy())

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                self.weights.append(runner.model.conv1.weight.detach().numpy().copy())
        return Recorder()


def test_ff_and_c2i_equal_an_independent_count(tmp_path):
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    recorder = _Recorder()
    hook = BNNDiagnosticsHook(interval=3)
    runner = toy_runner(tmp_path, [hook, recorder], epochs=2, log_interval=1,
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
    layer = summary['layers']['conv1']
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
    path = osp.join(runner.log_dir, 'bnn_diagnostics.json')
    assert (f'BNN diagnostics: FF mean {np.mean(ff):.3e}, C2I {1 - p:.4f} '
            f'(p {p:.4f}) -> {path}\n') in text
    in_log = [float(v) for v in re.findall(r'bnn_ff_ratio: ([0-9.e+-]+)',
                                           text)]
    # Logged from iteration 3 on: the latest flushed interval's mean.
    means = [np.mean(ff[i:i + 3]) for i in range(0, 12, 3)]
    assert in_log == pytest.approx([means[0]] * 3 + [means[1]] * 3 +
                                   [means[2]] * 3 + [means[3]], abs=6e-5)


def test_c2i_against_the_first_steps_start_equals_an_independent_count(tmp_path):
    """Two runs in a row, as two-step training does: the second's C2I is
    counted against its own start and, through ``reference_checkpoint``,
    against the first run's start. The interval defaults to the logger's."""
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    first_rec = _Recorder()
    first = toy_runner(tmp_path / 'a', [BNNDiagnosticsHook(plots=False),
                                         first_rec], checkpoint=True, name='a')
    first.train()
    hook = BNNDiagnosticsHook(plots=False,
                              reference_checkpoint=str(tmp_path / 'a' /
                                                       'epoch_1.pth'))
    rec = _Recorder()
    second = toy_runner(tmp_path / 'b', [hook, rec], model=first.model,
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
    assert summary['layers']['conv1']['c2i_first_step'] == pytest.approx(
        summary['c2i_first_step'])


def test_diagnostics_refuses_bad_settings_and_references(tmp_path):
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    with pytest.raises(ValueError, match='interval must be >= 1, got 0'):
        BNNDiagnosticsHook(interval=0)
    BNNDiagnosticsHook(interval=1, hist_bins=2)  # the smallest allowed
    with pytest.raises(ValueError, match='hist_bins must be >= 2, got 1'):
        BNNDiagnosticsHook(hist_bins=1)
    plain = tmp_path / 'plain.pth'
    torch.save({'meta': {}, 'state_dict': toy_net().state_dict()}, plain)
    runner = toy_runner(tmp_path / 'c', [BNNDiagnosticsHook(
        reference_checkpoint=str(plain))], name='c')
    with pytest.raises(KeyError) as e:
        runner.train()
    assert e.value.args[0] == (
        f"{plain} holds no 'bnn_diagnostics' state: train that run with "
        'BNNDiagnosticsHook to compare against its start')


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
    model, inputs, rec = toy_net(), [], _Recorder()
    model.conv1.register_forward_pre_hook(
        lambda m, args: inputs.append(args[0].detach().numpy().copy()))
    runner = toy_runner(tmp_path, [BNNDiagnosticsHook(interval=4, plots=False),
                                    rec], model=model, epochs=2, log_interval=1)
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
    saturation = {r['step']: r['bnn/conv1/act_saturation'] for r in logged
                  if 'bnn/conv1/act_saturation' in r}
    assert saturation == pytest.approx(sampled)
    assert _summary(runner)['layers']['conv1']['act_saturation'] == \
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
    whole = toy_runner(tmp_path / 'whole', [BNNDiagnosticsHook(
        interval=3, plots=False)], epochs=2, checkpoint=True, name='whole')
    whole.train()
    again = toy_runner(tmp_path / 'again', [BNNDiagnosticsHook(
        interval=3, plots=False)], epochs=2, name='again', resume=True,
        load_from=str(tmp_path / 'whole' / 'epoch_1.pth'))
    again.train()
    expected, continued = _summary(whole), _summary(again)
    assert expected['iterations'] == 12 and len(expected['ff_ratio_per_epoch']) == 2
    assert expected['layers']['conv1']['act_saturation'] > 0
    assert continued == expected


def test_diagnostics_of_an_iteration_based_run_count_every_iteration(
        tmp_path):
    """By iterations, 5 with an interval of 3: the last two are counted at
    the end of training, not lost."""
    from mmbnn.engine.hooks import BNNDiagnosticsHook
    rec = _Recorder()
    runner = toy_runner(
        tmp_path, [BNNDiagnosticsHook(interval=3, plots=False), rec],
        iterations=5, log_interval=1, name='by_iteration',
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
    plain = toy_runner(tmp_path / 'plain', [], epochs=1, checkpoint=True,
                        name='plain')
    plain.train()
    rec = _Recorder()
    again = toy_runner(tmp_path / 'again', [BNNDiagnosticsHook(plots=False),
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

    first = toy_runner(tmp_path / 'first', [BNNDiagnosticsHook(plots=False)],
                        epochs=1, checkpoint=True, name='first')
    first.train()
    rec = _Recorder()
    fresh = toy_runner(tmp_path / 'fresh', [BNNDiagnosticsHook(plots=False),
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
    model = toy_net()
    model.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    runner = toy_runner(tmp_path / 'fp', [BNNDiagnosticsHook()], model=model,
                         name='fp')
    with pytest.raises(RuntimeError, match='^BNNDiagnosticsHook: the model has '
                       'no binary layers to diagnose$'):
        runner.train()
    # No LoggerHook to take the interval from: every 50 iterations.
    hook = BNNDiagnosticsHook()
    hook.before_train(SimpleNamespace(model=toy_net(), hooks=[], iter=0))
    assert hook.interval == 50
    before = hook.summary()  # no iteration yet: zeros, not NaN
    assert before['ff_ratio_mean'] == 0.0 and before['iterations'] == 0
    assert before['layers']['conv1']['ff_ratio_mean'] == 0.0

    # A reference run whose binary layers are not this model's.
    other = toy_net()
    other.conv2 = type(other.conv1)(3, 8, 1)
    first = toy_runner(tmp_path / 'a', [BNNDiagnosticsHook(plots=False)],
                        model=other, checkpoint=True, name='a')
    first.train()
    path = str(tmp_path / 'a' / 'epoch_1.pth')
    runner = toy_runner(tmp_path / 'b', [BNNDiagnosticsHook(
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
        hook.before_train(SimpleNamespace(model=toy_net(), hooks=[], iter=6))
    assert e.value.args[0] == (
        "the binary layers in the resumed checkpoint (2) are not this model's "
        "(1); first differences: ['conv2']")
    hook = BNNDiagnosticsHook()
    hook.after_load_checkpoint(None, {'bnn_diagnostics': dict(
        names=[f'x{i}' for i in range(7)])})
    with pytest.raises(ValueError) as e:
        hook.before_train(SimpleNamespace(model=toy_net(), hooks=[], iter=6))
    assert e.value.args[0] == (
        "the binary layers in the resumed checkpoint (7) are not this model's "
        "(1); first differences: ['conv1', 'x0', 'x1', 'x2', 'x3']")


def test_saturation_is_sampled_from_training_forwards_only():
    """A validation forward between a sampling iteration and the next is not
    sampled; a training forward is, by the formula."""
    from types import SimpleNamespace

    from mmbnn.engine.hooks import BNNDiagnosticsHook
    model = toy_net()
    hook = BNNDiagnosticsHook(interval=1)
    hook.before_train(SimpleNamespace(model=model, hooks=[], iter=0))
    hook._sampling = True  # as before_train_iter sets it on iteration 1
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0)) * 2
    model.eval()
    model.conv1(x)
    assert hook._sampled == {}
    model.train()
    model.conv1(x)
    assert list(hook._sampled) == [0]
    assert hook._sampled[0].item() == pytest.approx((x.abs() > 1).float().mean().item())


def test_dte_bind_ratio_equals_a_numpy_count_of_the_bound_holding(tmp_path):
    """Per layer and part, the share of stage-2 iterations in which DTE's
    bound held t below the schedule's, against the bound computed in numpy
    from the recorded weights (standardized) and inputs (their running
    cap); t grows past the bound during stage 2, so it holds in some
    iterations and not in others."""
    import math

    from mmengine.hooks import Hook

    from mmbnn.engine.hooks import BinarySchedulerHook, BNNDiagnosticsHook
    from mmbnn.models.layers import BinaryConv2d
    from reference import numpy_t_cap

    class Record(Hook):
        priority = 'LOW'  # after the scheduler: t and stage are this iter's

        def __init__(self):
            self.rows = []

        def before_train(self, runner):
            runner.model.conv1.register_forward_pre_hook(
                lambda m, args: self.rows[-1].update(
                    x=args[0].detach().double().numpy()))

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            conv = runner.model.conv1
            self.rows.append(dict(t=float(conv.t), stage=int(conv.stage),
                                  w=conv.weight.detach().double().numpy()))

    model = toy_net(BinaryConv2d(3, 8, 3, padding=1, bias=False,
                                 weight_max_gain=1.0))
    record = Record()
    hook = BNNDiagnosticsHook(interval=4, plots=False)
    runner = toy_runner(
        tmp_path, [BinarySchedulerHook(t_min=0.5, t_max=30.0, boundary=0.25),
                   hook, record],
        model=model, iterations=16, optimizer=dict(type='SGD', lr=0.05),
        name='binds')
    runner.train()
    binds, ema = dict(weights=[], activations=[]), None
    for row in record.rows:
        if row['stage'] != 2:
            continue
        w = row['w'].reshape(8, -1)
        w = (w - w.mean(1, keepdims=True)) / w.std(1, ddof=1, keepdims=True)
        binds['weights'].append(numpy_t_cap(w) < row['t'])
        cap = numpy_t_cap(row['x'])
        ema = cap if ema is None else math.exp(0.9 * math.log(ema) +
                                               0.1 * math.log(cap))
        binds['activations'].append(ema < row['t'])
    assert len(binds['weights']) == 12  # iterations 5-16 run stage 2
    expected = {part: np.mean(v) for part, v in binds.items()}
    assert 0 < expected['weights'] < 1 and 0 < expected['activations'] < 1
    with open(osp.join(runner.log_dir, 'bnn_diagnostics.json')) as f:
        summary = json.load(f)
    assert summary['layers']['conv1']['dte_bind_ratio'] == pytest.approx(
        expected)
    assert summary['dte_bind_ratio'] == pytest.approx(
        np.mean(binds['weights'] + binds['activations']))


    # What a checkpoint carries gives a fresh hook the same summary, every
    # number; counts are saved as integers, sums in float64.
    from types import SimpleNamespace
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    state = checkpoint['bnn_diagnostics']
    assert {key: state[key].dtype for key in (
        'layer_flips', 'bind_counts', 'bind_iters', 'sat_count', 'sat_sum',
        'ff_iters')} == dict(layer_flips=torch.long, bind_counts=torch.long,
                             bind_iters=torch.long, sat_count=torch.long,
                             sat_sum=torch.float64, ff_iters=torch.float64)
    assert state['bind_counts'].tolist() == [
        [int(sum(binds['weights'])), int(sum(binds['activations']))]]
    assert state['bind_iters'].tolist() == [[12, 12]]
    fresh = BNNDiagnosticsHook(plots=False)
    fresh.after_load_checkpoint(runner, checkpoint)
    fresh.before_train(SimpleNamespace(model=runner.model, hooks=[], iter=16))
    assert fresh.summary() == hook.summary()

    # A checkpoint written before the bound was counted: no ratio yet, and
    # counting starts from zero.
    older = {k: v for k, v in state.items()
             if k not in ('bind_counts', 'bind_iters')}
    hook = BNNDiagnosticsHook(plots=False)
    hook.after_load_checkpoint(runner, {'bnn_diagnostics': older})
    hook.before_train(SimpleNamespace(model=runner.model, hooks=[], iter=16))
    summary = hook.summary()
    assert summary['dte_bind_ratio'] is None
    assert summary['layers']['conv1']['dte_bind_ratio'] == dict(
        weights=None, activations=None)
    runner.model.conv1.cap_binds.update(weights=torch.tensor(True),
                                        activations=torch.tensor(False))
    hook.after_train_iter(SimpleNamespace(train_dataloader=range(4)), 0)
    assert hook.summary()['layers']['conv1']['dte_bind_ratio'] == dict(
        weights=1.0, activations=0.0)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    saved = checkpoint['bnn_diagnostics']
    assert saved['bind_counts'].dtype == saved['bind_iters'].dtype == torch.long
    assert saved['bind_counts'].tolist() == [[1, 0]]


def test_each_epoch_reports_its_flips_and_the_bound_an_empty_one_zero():
    """The epoch report by hand: an epoch without iterations reports FF 0
    and no bound; then one iteration that flips 3 signs with the weights'
    bound holding and the activations' not: FF 3/n for the epoch, the run
    and the layer, bound ratio 1/2 to the log."""
    import uuid
    from types import SimpleNamespace

    from mmengine.logging import MessageHub

    from mmbnn.engine.hooks import BNNDiagnosticsHook
    model, hook = toy_net(), BNNDiagnosticsHook(plots=False)
    hook.before_train(SimpleNamespace(model=model, hooks=[], iter=0))
    scalars, lines = [], []
    hub = MessageHub.get_instance(f'epoch_report_{uuid.uuid4().hex}')  # fresh
    runner = SimpleNamespace(
        message_hub=hub, epoch=0, iter=0, train_dataloader=range(4),
        visualizer=SimpleNamespace(
            add_scalars=lambda values, step: scalars.append((step, values))),
        logger=SimpleNamespace(info=lines.append))
    hook.after_train_epoch(runner)
    assert scalars == [(1, {'bnn/c2i': 1.0, 'bnn/c2i_p': 0.0,
                            'bnn/ff_ratio_epoch': 0.0})]
    assert lines == ['BNN diagnostics, epoch 1: FF mean 0.000e+00, C2I 1.0000 '
                     '(p 0.0000)']
    assert 'train/bnn_dte_bind_ratio' not in hub.log_scalars
    assert hook.ff_epochs == []

    weight = model.conv1.weight
    n = weight.numel()
    with torch.no_grad():
        weight.view(-1)[:3] = -weight.view(-1)[:3]
    assert (weight.view(-1)[:3] != 0).all()
    model.conv1.cap_binds.update(weights=torch.tensor(True),
                                 activations=torch.tensor(False))
    hook.after_train_iter(runner, 0)
    runner.epoch = 1
    hook.after_train_epoch(runner)
    assert hub.get_scalar('train/bnn_dte_bind_ratio').current() == 0.5
    assert scalars[-1] == (2, {'bnn/c2i': pytest.approx(1 - 3 / n),
                               'bnn/c2i_p': pytest.approx(3 / n),
                               'bnn/ff_ratio_epoch': pytest.approx(3 / n)})
    summary = hook.summary()
    assert summary['ff_ratio_per_epoch'] == pytest.approx([3 / n])
    assert summary['layers']['conv1']['ff_ratio_mean'] == pytest.approx(3 / n)
