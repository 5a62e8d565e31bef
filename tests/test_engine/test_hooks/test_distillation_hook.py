"""mmbnn/engine/hooks/distillation_hook.py: RBD and logit distillation hooks
on a toy classifier: the added loss equals its formula, the teacher gets no
gradient, bad settings are named."""
import types

import pytest
import torch

from toy import TOY_CLASSIFIER as CLASSIFIER


def _build(cfg):
    from mmbnn.models import build_model
    model = build_model(cfg, scope='mmpretrain')
    model.init_weights()
    return model


def _runner(student, model_cfg):
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    return types.SimpleNamespace(model=student,
                                 cfg=Config(dict(model=model_cfg,
                                                 default_scope='mmpretrain')),
                                 logger=MMLogger.get_current_instance())


def _batch(n=3, classes=4):
    from mmpretrain.structures import DataSample
    torch.manual_seed(1)
    inputs = torch.randn(n, 3, 16, 16)
    samples = [DataSample().set_gt_label(i % classes) for i in range(n)]
    return inputs, samples


@pytest.fixture
def fp_teacher_checkpoint(tmp_path):
    """A trained-looking FP twin: the classifier with real convs and weights
    of its own (not the student's)."""
    import copy
    cfg = copy.deepcopy(CLASSIFIER)
    cfg['backbone']['conv_cfg'] = None
    torch.manual_seed(5)
    teacher = _build(cfg)
    path = tmp_path / 'fp.pth'
    torch.save({'meta': {}, 'state_dict': teacher.state_dict()}, path)
    return str(path), teacher


def test_derived_teacher_is_the_student_in_full_precision(fp_teacher_checkpoint):
    from mmbnn.engine.hooks import RBDHook
    from mmbnn.models.layers import BinaryMixin
    path, fp = fp_teacher_checkpoint
    torch.manual_seed(0)
    student = _build(CLASSIFIER)
    hook = RBDHook(teacher_checkpoint=path)
    runner = _runner(student, CLASSIFIER)
    lines = []
    runner.logger = types.SimpleNamespace(info=lines.append)
    hook.before_train(runner)
    assert lines == ['RBDHook: 18 tapped layer(s), loss weight 1.0']
    teacher = hook.teacher
    assert [n for n, _ in teacher.named_modules()] == [
        n for n, _ in student.named_modules()]
    binary = [m for m in teacher.modules() if isinstance(m, BinaryMixin)]
    assert binary and all(m.binarize == 'none' for m in binary)
    for key, value in fp.state_dict().items():
        assert torch.equal(teacher.state_dict()[key], value), key
    assert not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    # The teacher belongs to the hook only.
    assert not any('teacher' in k for k in student.state_dict())
    student_params = {id(p) for p in student.parameters()}
    assert not any(id(p) in student_params for p in teacher.parameters())
    # Default taps: every block holding a binary conv: ResNet-20 has 3 stages
    # x 3 blocks x 2 Bi-Real convs.
    assert len(hook.tapped) == 18
    assert all(n.startswith('backbone.stages') for n in hook.tapped)
    hook.after_train(runner)


def test_rbd_loss_added_equals_the_formula_and_teacher_gets_no_gradient(
        fp_teacher_checkpoint):
    from mmbnn.engine.hooks import RBDHook
    path, _ = fp_teacher_checkpoint
    torch.manual_seed(0)
    student = _build(CLASSIFIER)
    hook = RBDHook(teacher_checkpoint=path, loss_weight=2.5,
                   layers=['backbone.stages.0.0.1', 'backbone.stages.2.*.0'])
    runner = _runner(student, CLASSIFIER)
    hook.before_train(runner)
    assert hook.tapped == ['backbone.stages.0.0.1', 'backbone.stages.2.0.0',
                           'backbone.stages.2.1.0', 'backbone.stages.2.2.0']
    inputs, samples = _batch()
    student.train()
    losses = student.loss(inputs, samples)
    assert set(losses) == {'loss', 'loss_rbd'}

    # Independently: run both models by hand and apply methods.md 1.3.
    feats = {}
    handles = [m.get_submodule(n).register_forward_hook(
        lambda mod, a, out, key=(tag, n): feats.__setitem__(key, out))
        for tag, m in (('s', student), ('t', hook.teacher)) for n in hook.tapped]
    student.extract_feat(inputs)
    with torch.no_grad():
        hook.teacher.extract_feat(inputs)
    for h in handles:
        h.remove()
    expected = 0.0
    for n in hook.tapped:
        s = feats[('s', n)].flatten(1)
        t = feats[('t', n)].flatten(1)
        s, t = s / s.norm(dim=1, keepdim=True), t / t.norm(dim=1, keepdim=True)
        expected += ((s - t) ** 2).sum(dim=1).mean().item()
    assert losses['loss_rbd'].item() == pytest.approx(2.5 * expected, rel=1e-5)

    losses['loss_rbd'].backward()
    assert all(p.grad is None for p in hook.teacher.parameters())
    assert student.backbone.stages[0][0][1].conv.weight.grad is not None
    # Everything installed is removed after training.
    hook.after_train(runner)
    assert 'loss' not in student.__dict__
    assert all(not student.get_submodule(n)._forward_hooks for n in hook.tapped)
    assert set(student.loss(inputs, samples)) == {'loss'}


@pytest.mark.parametrize('hook_type', ['RBDHook', 'LogitDistillationHook'])
def test_weight_zero_runs_no_teacher_and_keeps_the_task_loss(
        fp_teacher_checkpoint, hook_type):
    """With loss weight 0 (an ablation's run without distillation) the
    teacher does not run, the distillation loss is logged as 0 and the
    task losses are the student's own (as the hook adjusts them)."""
    from mmbnn.engine import hooks
    path, _ = fp_teacher_checkpoint
    torch.manual_seed(0)
    student = _build(CLASSIFIER)
    inputs, samples = _batch()
    own = student.loss(inputs, samples)
    hook = getattr(hooks, hook_type)(teacher_checkpoint=path,
                                     loss_weight=0.0)
    runner = _runner(student, CLASSIFIER)
    hook.before_train(runner)
    calls = []
    hook.teacher.register_forward_pre_hook(lambda *a: calls.append(1))
    hook.teacher.backbone.register_forward_pre_hook(
        lambda *a: calls.append(2))
    losses = student.loss(inputs, samples)
    assert calls == []
    assert losses[hook.loss_name].item() == 0.0
    for key, value in hook.adjust_task_losses(own).items():
        assert torch.equal(losses[key], value), key
    hook.loss_weight = 1.0  # on: the teacher runs
    student.loss(inputs, samples)
    assert calls
    hook.after_train(runner)


def test_unknown_layer_is_named():
    from mmbnn.engine.hooks import RBDHook
    student = _build(CLASSIFIER)
    hook = RBDHook(teacher_checkpoint='unused.pth', layers=['backbone.nope*'])
    with pytest.raises(KeyError, match=r"backbone\.nope\*"):
        hook.before_train(_runner(student, CLASSIFIER))


def test_shape_mismatch_names_layer_and_shapes(tmp_path):
    import copy

    from mmbnn.engine.hooks import RBDHook
    wide = copy.deepcopy(CLASSIFIER)
    wide['backbone'].update(base_channels=16, conv_cfg=None)
    wide['head']['in_channels'] = 64
    path = tmp_path / 'wide.pth'
    torch.save(_build(wide).state_dict(), path)
    config = tmp_path / 'wide_teacher.py'
    config.write_text(f'model = {wide!r}\n')
    student = _build(CLASSIFIER)
    hook = RBDHook(teacher_checkpoint=str(path), teacher_config=str(config),
                   layers=['backbone.stages.1.0.0'])
    hook.before_train(_runner(student, CLASSIFIER))
    with pytest.raises(ValueError) as e:
        student.loss(*_batch())
    assert e.value.args[0] == ("RBDHook: layer 'backbone.stages.1.0.0' gives "
                               "student shape (3, 16, 8, 8) but teacher shape "
                               "(3, 32, 8, 8)")


def test_logit_distillation_replaces_the_label_loss(fp_teacher_checkpoint):
    from mmbnn.engine.hooks import LogitDistillationHook
    path, _ = fp_teacher_checkpoint
    student = _build(CLASSIFIER)
    hook = LogitDistillationHook(teacher_checkpoint=path, temperature=1.0,
                                 label_loss_weight=0.0, loss_weight=1.0)
    runner = _runner(student, CLASSIFIER)
    hook.before_train(runner)
    inputs, samples = _batch()
    losses = student.loss(inputs, samples)
    assert losses['loss'].item() == 0.0  # label loss weight 0 (AdamBNN)
    with torch.no_grad():
        # mmpretrain's extract_feat includes the pooling neck.
        zs = student.head.fc(student.extract_feat(inputs)[-1])
        zt = hook.teacher.head.fc(hook.teacher.extract_feat(inputs)[-1])
    expected = -(torch.softmax(zt, 1) * torch.log_softmax(zs, 1)).sum(1).mean()
    assert losses['loss_kd'].item() == pytest.approx(expected.item(), rel=1e-5)
    hook.after_train(runner)


def test_logit_hook_weights_temperature_and_label_loss(fp_teacher_checkpoint):
    """loss_weight scales the distillation term, the temperature reaches the
    loss, label_loss_weight scales only the entries named loss."""
    from mmbnn.engine.hooks import LogitDistillationHook
    path, _ = fp_teacher_checkpoint
    student = _build(CLASSIFIER)
    inputs, samples = _batch()
    plain = {k: v.item() for k, v in student.loss(inputs, samples).items()}
    hook = LogitDistillationHook(teacher_checkpoint=path, temperature=2.0,
                                 label_loss_weight=0.25, loss_weight=1.5)
    runner = _runner(student, CLASSIFIER)
    hook.before_train(runner)
    losses = student.loss(inputs, samples)
    with torch.no_grad():
        zs = student.head.fc(student.extract_feat(inputs)[-1])
        zt = hook.teacher.head.fc(hook.teacher.extract_feat(inputs)[-1])
    kd = -(torch.softmax(zt / 2, 1) * torch.log_softmax(zs / 2, 1)).sum(1).mean()
    assert losses['loss_kd'].item() == pytest.approx(1.5 * kd.item(), rel=1e-5)
    assert losses['loss'].item() == pytest.approx(0.25 * plain['loss'],
                                                  rel=1e-5)
    with pytest.raises(ValueError, match='temperature'):
        LogitDistillationHook(teacher_checkpoint=path, temperature=0.0)
    hook.after_train(runner)
    assert 'loss' not in student.__dict__


def _message(excinfo):
    """The exception's own text (a KeyError's str() adds quotes)."""
    return excinfo.value.args[0]


def test_distillation_hooks_refuse_bad_settings_with_their_full_message(
        fp_teacher_checkpoint, tmp_path):
    import copy

    from mmbnn.engine.hooks import LogitDistillationHook, RBDHook
    path, _ = fp_teacher_checkpoint
    assert RBDHook(teacher_checkpoint=path).loss_weight == 1.0  # documented
    RBDHook(teacher_checkpoint=path, loss_weight=0.0)  # allowed: no effect
    with pytest.raises(ValueError) as e:
        RBDHook(teacher_checkpoint=path, loss_weight=-0.5)
    assert _message(e) == 'loss_weight must be >= 0, got -0.5'
    LogitDistillationHook(teacher_checkpoint=path, label_loss_weight=0.0)
    for kwargs in (dict(temperature=0.0), dict(label_loss_weight=-1.0)):
        with pytest.raises(ValueError) as e:
            LogitDistillationHook(teacher_checkpoint=path, **kwargs)
        assert _message(e) == ('temperature must be > 0 and '
                               'label_loss_weight >= 0')

    fp_cfg = copy.deepcopy(CLASSIFIER)
    fp_cfg['backbone']['conv_cfg'] = None
    with pytest.raises(ValueError) as e:  # nothing binary to tap by default
        RBDHook(teacher_checkpoint=path).before_train(
            _runner(_build(fp_cfg), fp_cfg))
    assert _message(e) == ('RBDHook: the student has no layer to tap by '
                           'default; name them in layers=')
    with pytest.raises(KeyError) as e:
        LogitDistillationHook(teacher_checkpoint=path, layers='head.nope').\
            before_train(_runner(_build(CLASSIFIER), CLASSIFIER))
    assert _message(e) == ("LogitDistillationHook: no student module matches "
                           "layer 'head.nope'")

    # A tapped student module the teacher (built from its config) lacks.
    (tmp_path / 'fp.py').write_text(f'model = {fp_cfg!r}\n')
    student = _build(CLASSIFIER)
    student.backbone.extra = torch.nn.Identity()
    hook = RBDHook(teacher_checkpoint=path, teacher_config=str(tmp_path / 'fp.py'),
                   layers=['backbone.stages.2.0.0', 'backbone.extra'])
    with pytest.raises(KeyError) as e:
        hook.before_train(_runner(student, CLASSIFIER))
    assert _message(e) == ("RBDHook: tapped layer(s) ['backbone.extra'] "
                           "are not modules of the teacher")


def test_a_tap_that_runs_twice_or_not_in_the_teacher_is_named(
        fp_teacher_checkpoint):
    from mmbnn.engine.hooks import LogitDistillationHook, RBDHook
    path, _ = fp_teacher_checkpoint
    student = _build(CLASSIFIER)
    hook = RBDHook(teacher_checkpoint=path, layers=['backbone.stages.0.0.0'])
    runner = _runner(student, CLASSIFIER)
    hook.before_train(runner)
    stage = student.backbone.stages[0]  # blocks of equal in and out shape
    stage.forward = lambda x: stage[2](stage[1](stage[0](stage[0](x))))
    with pytest.raises(RuntimeError) as e:
        student.loss(*_batch())
    assert _message(e) == ("layer 'backbone.stages.0.0.0' ran twice in one "
                           'forward; tap a module that runs once')
    del stage.forward
    # The teacher skips the tapped block (its stage runs only the others).
    teacher_block = hook.teacher.backbone.stages[0][0][0]
    teacher_stage = hook.teacher.backbone.stages[0]
    teacher_stage.forward = lambda x: teacher_stage[2](teacher_stage[1](x))
    with pytest.raises(KeyError) as e:
        student.loss(*_batch())
    assert _message(e) == ("RBDHook: layer 'backbone.stages.0.0.0' did not run "
                           'in the teacher')
    assert teacher_block is hook.teacher.backbone.stages[0][0][0]
    hook.after_train(runner)

    two = LogitDistillationHook(teacher_checkpoint=path,
                                layers=['head.fc', 'backbone.stages.2.2.1'])
    runner = _runner(student, CLASSIFIER)
    two.before_train(runner)
    with pytest.raises(ValueError) as e:
        student.loss(*_batch())
    assert _message(e) == ("LogitDistillationHook taps one logits layer, got "
                           "['backbone.stages.2.2.1', 'head.fc']")
    two.after_train(runner)


def test_a_teacher_checkpoint_that_does_not_fit_names_checkpoint_and_target(
        tmp_path):
    """A wider network's weights as the derived teacher's, and as the
    teacher config's: the error names the checkpoint and what it was loaded
    into."""
    import copy

    from mmbnn.engine.hooks import RBDHook
    from mmbnn.utils.checkpoint import CheckpointMismatchError
    wide = copy.deepcopy(CLASSIFIER)
    wide['backbone'].update(base_channels=16, conv_cfg=None)
    wide['head']['in_channels'] = 64
    path = str(tmp_path / 'wide.pth')
    torch.save(_build(wide).state_dict(), path)
    with pytest.raises(CheckpointMismatchError) as e:
        RBDHook(teacher_checkpoint=path).before_train(
            _runner(_build(CLASSIFIER), CLASSIFIER))
    assert str(e.value).startswith(
        f"checkpoint {path!r} does not fit the student architecture in full "
        "precision: ")
    other = tmp_path / 'other.py'
    other.write_text(f'model = {CLASSIFIER!r}\n')
    with pytest.raises(CheckpointMismatchError) as e:
        RBDHook(teacher_checkpoint=path, teacher_config=str(other)).before_train(
            _runner(_build(CLASSIFIER), CLASSIFIER))
    assert str(e.value).startswith(
        f"checkpoint {path!r} does not fit teacher config {str(other)!r}: ")


@pytest.mark.parametrize('layers,head_runs', [
    (['backbone.stages.0.0.0'], 0), (['neck'], 0),
    (['backbone.stages.0.0.0', 'head.fc'], 1)])
def test_the_teacher_runs_its_head_only_for_taps_outside_backbone_and_neck(
        fp_teacher_checkpoint, layers, head_runs):
    from mmbnn.engine.hooks import RBDHook
    path, _ = fp_teacher_checkpoint
    student = _build(CLASSIFIER)
    hook = RBDHook(teacher_checkpoint=path, layers=layers)
    runner = _runner(student, CLASSIFIER)
    hook.before_train(runner)
    calls = []
    hook.teacher.head.fc.register_forward_hook(lambda *args: calls.append(1))
    assert 'loss_rbd' in student.loss(*_batch())
    assert len(calls) == head_runs
    hook.after_train(runner)


def test_logit_hook_defaults_and_what_it_scales(fp_teacher_checkpoint,
                                                tmp_path):
    """AdamBNN's recipe by default (T = 1, weight 1, no label loss); the
    label weight scales only the entries named loss; a teacher config is
    honoured (here a wider FP network with the same classes)."""
    import copy

    from mmbnn.engine.hooks import LogitDistillationHook
    path, _ = fp_teacher_checkpoint
    hook = LogitDistillationHook(teacher_checkpoint=path)
    assert (hook.temperature, hook.loss_weight, hook.label_loss_weight,
            hook.layers) == (1.0, 1.0, 0.0, ['head.fc'])
    scaled = LogitDistillationHook(teacher_checkpoint=path,
                                   label_loss_weight=0.25).adjust_task_losses(
        dict(loss=torch.tensor(2.0), accuracy=torch.tensor(0.5)))
    assert {k: v.item() for k, v in scaled.items()} == dict(loss=0.5,
                                                            accuracy=0.5)
    wide = copy.deepcopy(CLASSIFIER)
    wide['backbone'].update(base_channels=16, conv_cfg=None)
    wide['head']['in_channels'] = 64
    torch.save(_build(wide).state_dict(), tmp_path / 'wide.pth')
    (tmp_path / 'wide.py').write_text(f'model = {wide!r}\n')
    student = _build(CLASSIFIER)
    hook = LogitDistillationHook(teacher_checkpoint=str(tmp_path / 'wide.pth'),
                                 teacher_config=str(tmp_path / 'wide.py'))
    runner = _runner(student, CLASSIFIER)
    hook.before_train(runner)
    assert hook.teacher.head.fc.in_features == 64
    assert 'loss_kd' in student.loss(*_batch())
    hook.after_train(runner)


def test_a_teacher_config_is_built_in_its_own_scope_and_a_bad_file_named(
        fp_teacher_checkpoint, tmp_path):
    """A teacher config with its own ``default_scope`` (an mmpretrain
    classifier teaching in an mmdet run) is built there, not in the run's;
    a teacher checkpoint without weights is named in the error."""
    import copy

    from mmbnn.engine.hooks import RBDHook
    from mmbnn.utils.checkpoint import CheckpointError
    path, fp = fp_teacher_checkpoint
    fp_cfg = copy.deepcopy(CLASSIFIER)
    fp_cfg['backbone']['conv_cfg'] = None
    config = tmp_path / 'teacher.py'
    config.write_text(f"default_scope = 'mmpretrain'\nmodel = {fp_cfg!r}\n")
    runner = _runner(_build(CLASSIFIER), CLASSIFIER)
    runner.cfg.default_scope = 'mmdet'
    teacher = RBDHook(teacher_checkpoint=path,
                      teacher_config=str(config)).build_teacher(runner)
    assert type(teacher).__name__ == 'ImageClassifier'
    for key, value in fp.state_dict().items():
        assert torch.equal(teacher.state_dict()[key], value), key

    empty = str(tmp_path / 'empty.pth')
    torch.save({'meta': {}, 'state_dict': {'step': 3}}, empty)
    with pytest.raises(CheckpointError) as e:
        RBDHook(teacher_checkpoint=empty,
                teacher_config=str(config)).build_teacher(runner)
    assert _message(e) == (f'{empty!r} has no state dict of tensors (keys: '
                           'meta, state_dict)')


def test_a_teacher_run_to_its_head_gets_a_copy_of_the_data_samples(
        fp_teacher_checkpoint):
    """With a tap outside backbone and neck the teacher runs its whole
    tensor-mode forward, which a two-stage detector's RPN cannot run
    without the samples: it gets the batch's samples, as copies (it must
    not change the student's)."""
    from mmbnn.engine.hooks import RBDHook
    path, _ = fp_teacher_checkpoint
    student = _build(CLASSIFIER)
    hook = RBDHook(teacher_checkpoint=path,
                   layers=['backbone.stages.0.0.0', 'head.fc'])
    runner = _runner(student, CLASSIFIER)
    hook.before_train(runner)
    seen = []
    forward = hook.teacher.forward

    def recording(inputs, data_samples=None, mode='tensor'):
        seen.append(data_samples)
        return forward(inputs, data_samples, mode)

    hook.teacher.forward = recording
    inputs, samples = _batch()
    student.loss(inputs, samples)
    assert len(seen) == 1 and seen[0] is not None
    assert [s.gt_label.tolist() for s in seen[0]] == \
        [s.gt_label.tolist() for s in samples]
    assert all(a is not b for a, b in zip(seen[0], samples))
    hook.after_train(runner)
