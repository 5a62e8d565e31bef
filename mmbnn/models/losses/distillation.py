"""Distillation losses (plain PyTorch): RBD (DIR-Net) and logit distillation
(AdamBNN). Formulas: docs/methods.md 1.3 and 3.1."""
from typing import Dict

import torch
import torch.nn.functional as F


def rbd_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``mean_batch || A_S/||A_S||_2 - A_T/||A_T||_2 ||_2^2`` for one tapped
    layer (DIR-Net's RBD, docs/methods.md 1.3): each sample's activation is
    flattened and L2-normalized, so only its direction is matched.

    ``teacher`` is treated as a constant (no gradient reaches it).
    """
    if student.shape != teacher.shape:
        raise ValueError(f'student {tuple(student.shape)} and teacher '
                         f'{tuple(teacher.shape)} activations differ in shape')
    s = F.normalize(student.flatten(1).float(), dim=1)
    t = F.normalize(teacher.detach().flatten(1).float(), dim=1)
    return (s - t).pow(2).sum(dim=1).mean()


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
