"""Distillation from a frozen full-precision teacher: RBD (DIR-Net) on tapped
representations, and logit distillation (AdamBNN)."""
import copy
import fnmatch
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from mmbnn.models.builder import build_model, full_precision_twin
from mmbnn.models.layers.binary import binary_blocks
from mmbnn.models.losses import logit_distillation_loss, rbd_losses
from mmbnn.models.utils.state_dict import load_fitting_state_dict
from mmbnn.registry import HOOKS
from mmbnn.utils.checkpoint import read_checkpoint, state_dict_of
from mmbnn.utils.dist import unwrap_model


class DistillationHook(Hook):
    """Adds a loss between the student's and a frozen teacher's outputs at
    tapped modules to the student's training loss.

    The teacher is built before training, frozen (``requires_grad=False``,
    eval mode), moved to the student's device and run under ``no_grad`` on the
    same preprocessed batch. It is held by the hook, not by the model, so it
    is never in the optimizer, the checkpoint or DDP's gradient sync.
    Everything the hook installs (forward hooks, the wrapped ``loss``) is
    removed after training.

    Args:
        teacher_checkpoint (str): The teacher's weights.
        teacher_config (str, optional): The teacher's config file; default:
            the student's architecture with every binary layer in full
            precision (``binarize='none'``).
        layers (Sequence[str], optional): Tapped module names or fnmatch
            patterns, matched by name in student and teacher.
        loss_weight (float): Weight of the distillation loss.
    """

    loss_name = 'loss_distill'
    priority = 'NORMAL'

    def __init__(self, teacher_checkpoint: str,
                 teacher_config: Optional[str] = None,
                 layers: Optional[Union[str, Sequence[str]]] = None,
                 loss_weight: float = 1.0):
        if loss_weight < 0:
            raise ValueError(f'loss_weight must be >= 0, got {loss_weight}')
        self.teacher_checkpoint = teacher_checkpoint
        self.teacher_config = teacher_config
        self.layers = [layers] if isinstance(layers, str) else layers
        self.loss_weight = loss_weight
        self.teacher = None
        self._handles = []
        self._capture: Optional[Dict[str, torch.Tensor]] = None

    # -- what a subclass defines
    def default_layers(self, student) -> List[str]:
        raise NotImplementedError

    def distill_loss(self, student: Dict[str, torch.Tensor],
                     teacher: Dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def adjust_task_losses(self, losses: dict) -> dict:
        return losses

    # -- set-up
    @staticmethod
    def _student(runner):
        return unwrap_model(runner.model)

    def build_teacher(self, runner) -> torch.nn.Module:
        if self.teacher_config is None:
            teacher = full_precision_twin(runner.cfg.model,
                                          runner.cfg.get('default_scope'))
            target = 'the student architecture in full precision'
        else:
            teacher_cfg = Config.fromfile(self.teacher_config)
            teacher = build_model(teacher_cfg, teacher_cfg.get(
                'default_scope') or runner.cfg.get('default_scope'))
            target = f'teacher config {self.teacher_config!r}'
        state = state_dict_of(read_checkpoint(self.teacher_checkpoint, 'cpu'),
                              self.teacher_checkpoint)
        # An FP teacher's checkpoint has no binary schedule buffers; they
        # play no part in a full-precision forward.
        load_fitting_state_dict(teacher, state, self.teacher_checkpoint,
                                target, binary_buffers_optional=True)
        teacher.requires_grad_(False)
        return teacher.eval()

    def _tapped(self, student) -> List[str]:
        names = dict(student.named_modules())
        if self.layers is None:
            tapped = self.default_layers(student)
            if not tapped:
                raise ValueError(f'{type(self).__name__}: the student has no '
                                 'layer to tap by default; name them in layers=')
            return tapped
        tapped = []
        for pattern in self.layers:
            found = [n for n in names if n and fnmatch.fnmatchcase(n, pattern)]
            if not found:
                raise KeyError(f'{type(self).__name__}: no student module '
                               f'matches layer {pattern!r}')
            tapped += [n for n in found if n not in tapped]
        return tapped

    def before_train(self, runner) -> None:
        student = self._student(runner)
        self.tapped = self._tapped(student)
        self.teacher = self.build_teacher(runner)
        teacher_modules = dict(self.teacher.named_modules())
        absent = [n for n in self.tapped if n not in teacher_modules]
        if absent:
            raise KeyError(f'{type(self).__name__}: tapped layer(s) {absent} '
                           'are not modules of the teacher')
        device = self._device = next(student.parameters()).device
        self.teacher.to(device)
        # Taps outside the backbone and neck (a head's logits) need the full
        # tensor forward; backbone and neck taps only extract_feat.
        self._features_only = all(n.split('.')[0] in ('backbone', 'neck')
                                  for n in self.tapped)
        self._student_out, self._teacher_out = {}, {}
        for name in self.tapped:
            self._handles.append(student.get_submodule(name).register_forward_hook(
                self._recorder(name, self._student_out)))
            self._handles.append(teacher_modules[name].register_forward_hook(
                self._recorder(name, self._teacher_out)))
        student_loss = student.loss

        def loss_with_distillation(inputs, data_samples):
            return self._loss(student_loss, inputs, data_samples)

        student.loss = loss_with_distillation
        runner.logger.info(f'{type(self).__name__}: {len(self.tapped)} tapped '
                           f'layer(s), loss weight {self.loss_weight}')

    def _recorder(self, name, store):
        def record(module, args, output):
            if self._capture is store:
                if name in store:
                    raise RuntimeError(f'layer {name!r} ran twice in one '
                                       'forward; tap a module that runs once')
                store[name] = output
        return record

    def _loss(self, student_loss, inputs, data_samples):
        if self.loss_weight == 0:
            # Off (an ablation's "without"): the teacher's forward would only
            # be multiplied by 0, so it does not run; the loss is logged as 0.
            losses = self.adjust_task_losses(student_loss(inputs,
                                                          data_samples))
            losses[self.loss_name] = torch.zeros((), device=self._device)
            return losses
        self._student_out.clear()
        self._teacher_out.clear()
        self._capture = self._student_out
        try:
            losses = student_loss(inputs, data_samples)
            self._capture = self._teacher_out
            with torch.no_grad():
                if self._features_only:
                    self.teacher.extract_feat(inputs)
                else:
                    self.teacher(inputs, copy.deepcopy(data_samples), mode='tensor')
        finally:
            self._capture = None
        student_out = self._flatten(self._student_out)
        teacher_out = self._flatten(self._teacher_out)
        for name, value in student_out.items():
            other = teacher_out.get(name)
            if other is None:
                raise KeyError(f'{type(self).__name__}: layer {name!r} did not '
                               'run in the teacher')
            if other.shape != value.shape:
                raise ValueError(
                    f'{type(self).__name__}: layer {name!r} gives student shape '
                    f'{tuple(value.shape)} but teacher shape {tuple(other.shape)}')
        losses = self.adjust_task_losses(losses)
        losses[self.loss_name] = self.loss_weight * self.distill_loss(
            student_out, teacher_out)
        return losses

    @staticmethod
    def _flatten(outputs):
        flat = {}
        for name, value in outputs.items():
            if isinstance(value, (tuple, list)):
                flat.update({f'{name}[{i}]': v for i, v in enumerate(value)
                             if isinstance(v, torch.Tensor)})
            else:
                flat[name] = value
        return flat

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        student = self._student(runner)
        student.__dict__.pop('loss', None)  # the class's own loss again
        self.teacher = None


@HOOKS.register_module()
class RBDHook(DistillationHook):
    """DIR-Net's Representation-align Binarization-aware Distillation
    (docs/methods.md 1.3): ``loss_rbd = loss_weight * sum_j mean_batch
    ||A_S/||A_S|| - A_T/||A_T|| ||^2`` over the tapped layers ``j``.

    ``layers=None`` taps the output of every block that holds a binary layer
    (backbone blocks, neck levels). Works for mmdet detectors and mmpretrain
    classifiers; see ``DistillationHook`` for the teacher.
    """
    loss_name = 'loss_rbd'

    def default_layers(self, student):
        return binary_blocks(student)

    def distill_loss(self, student, teacher):
        return rbd_losses(student, teacher)


@HOOKS.register_module()
class LogitDistillationHook(DistillationHook):
    """AdamBNN's distillation from a real-valued teacher's logits (docs/methods.md
    3.1) for classifiers: ``loss_kd = loss_weight * -sum softmax(z_T/T)
    log_softmax(z_S/T)``; the label loss is scaled by ``label_loss_weight``
    (0 in the paper's ImageNet recipe).

    Args:
        temperature (float): ``T``.
        label_loss_weight (float): Weight of the classifier's own loss.
        layers: The module giving the logits (default ``'head.fc'``, the
            linear layer of mmpretrain's ``LinearClsHead``).
    """
    loss_name = 'loss_kd'

    def __init__(self, teacher_checkpoint: str,
                 teacher_config: Optional[str] = None,
                 layers: Union[str, Sequence[str]] = 'head.fc',
                 loss_weight: float = 1.0, temperature: float = 1.0,
                 label_loss_weight: float = 0.0):
        super().__init__(teacher_checkpoint, teacher_config, layers, loss_weight)
        if temperature <= 0 or label_loss_weight < 0:
            raise ValueError('temperature must be > 0 and label_loss_weight >= 0')
        self.temperature = temperature
        self.label_loss_weight = label_loss_weight

    def distill_loss(self, student, teacher):
        if len(student) != 1:
            raise ValueError(f'LogitDistillationHook taps one logits layer, got '
                             f'{sorted(student)}')
        (name, logits), = student.items()
        return logit_distillation_loss(logits, teacher[name], self.temperature)

    def adjust_task_losses(self, losses):
        return {k: v * self.label_loss_weight if 'loss' in k else v
                for k, v in losses.items()}
