"""Distillation losses (plain PyTorch): RBD (DIR-Net) and logit distillation
(AdamBNN). Formulas: docs/methods.md 1.3 and 3.1."""
from typing import Dict

import torch
import torch.nn.functional as F

# F.normalize's floor on a norm.
_EPS = 1e-12


def rbd_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``mean_batch || A_S/||A_S||_2 - A_T/||A_T||_2 ||_2^2`` for one tapped
    layer (DIR-Net's RBD, docs/methods.md 1.3): each sample's activation is
    flattened and L2-normalized, so only its direction is matched.

    ``teacher`` is treated as a constant (no gradient reaches it). Computed
    from three dot products per sample, ``|s|^2, |t|^2, s.t``, as
    ``|s|^2/n_s^2 - 2 s.t/(n_s n_t) + |t|^2/n_t^2`` with ``n = max(|x|,
    1e-12)`` (``F.normalize``'s): no normalized copy of either activation
    and no difference tensor: forward and backward in a third of the
    elementwise formula's time at the demo SSD's feature sizes. The dot
    products are float32 sums (relative error about 1e-7;
    ``vector_norm``'s is 6e-6 at 0.6 M elements), combined in float64, so
    ``2 - 2 cos`` keeps its digits where student and teacher point the
    same way: at a loss of 1e-4 the float64 elementwise formula's value
    within 4e-8.
    """
    if student.shape != teacher.shape:
        raise ValueError(f'student {tuple(student.shape)} and teacher '
                         f'{tuple(teacher.shape)} activations differ in shape')
    s = student.flatten(1).float()
    with torch.no_grad():
        t = teacher.detach().flatten(1).float()
        tt = torch.linalg.vecdot(t, t).double()
        t_len = tt.clamp_min(_EPS ** 2).sqrt()
    ss = torch.linalg.vecdot(s, s).double()
    st = torch.linalg.vecdot(s, t).double()
    s_len = ss.clamp_min(_EPS ** 2).sqrt()
    per_sample = ss / s_len ** 2 - 2 * st / (s_len * t_len) + tt / t_len ** 2
    # A squared distance: rounding must not make it negative.
    return per_sample.clamp_min(0).mean().float()


def rbd_losses(student: Dict[str, torch.Tensor],
               teacher: Dict[str, torch.Tensor]) -> torch.Tensor:
    """``L_RBD``: ``rbd_loss`` summed over the tapped layers (matched by name)."""
    missing = sorted(set(student) ^ set(teacher))
    if missing:
        raise KeyError(f'layers tapped in only one of student and teacher: '
                       f'{missing}')
    return sum(rbd_loss(student[name], teacher[name]) for name in student)


def logit_distillation_loss(student_logits: torch.Tensor,
                            teacher_logits: torch.Tensor,
                            temperature: float = 1.0) -> torch.Tensor:
    """``-sum softmax(z_T / T) * log_softmax(z_S / T)``, mean over the batch
    (AdamBNN's loss; temperature 1 in its ImageNet recipe). No ``T^2``
    factor, as in docs/methods.md 3.1."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f'student logits {tuple(student_logits.shape)} and '
                         f'teacher logits {tuple(teacher_logits.shape)} differ')
    target = F.softmax(teacher_logits.detach().float() / temperature, dim=1)
    log_p = F.log_softmax(student_logits.float() / temperature, dim=1)
    return -(target * log_p).sum(dim=1).mean()
