"""mmbnn/models/losses/distillation.py: RBD and logit distillation, hand
computed."""
import math

import pytest
import torch

from mmbnn.models.losses import logit_distillation_loss, rbd_loss, rbd_losses


def test_rbd_loss_hand_computed():
    # Sample 1: (3, 4)/5 vs (4, 3)/5 -> (-0.2, 0.2) -> 0.08.
    # Sample 2: (1, 0) vs (0, 2)/2 -> (1, -1) -> 2.   Mean: 1.04.
    student = torch.tensor([[3., 4.], [1., 0.]])
    teacher = torch.tensor([[4., 3.], [0., 2.]])
    assert rbd_loss(student, teacher).item() == pytest.approx(1.04)
    # Per sample over all feature dimensions (C, H, W flattened); the scale
    # of either activation does not matter.
    s4 = student.view(2, 1, 2, 1) * 7
    assert rbd_loss(s4, teacher.view(2, 1, 2, 1) * 0.1).item() == pytest.approx(1.04)


def test_rbd_losses_sum_over_layers_matched_by_name():
    a = {'x': torch.tensor([[3., 4.]]), 'y': torch.tensor([[1., 0.]])}
    b = {'y': torch.tensor([[0., 2.]]), 'x': torch.tensor([[4., 3.]])}
    assert rbd_losses(a, b).item() == pytest.approx(0.08 + 2.0)
    for student, teacher in ((dict(a, z=a['x']), b), (a, dict(b, z=a['x']))):
        with pytest.raises(KeyError) as e:  # an extra layer on either side
            rbd_losses(student, teacher)
        assert e.value.args[0] == ("layers tapped in only one of student and "
                                   "teacher: ['z']")


def test_rbd_gradient_reaches_only_the_student():
    student = torch.tensor([[3., 4.]], requires_grad=True)
    teacher = torch.tensor([[4., 3.]], requires_grad=True)
    rbd_loss(student, teacher).backward()
    assert teacher.grad is None
    # d/ds || s/|s| - t ||^2 at s=(3,4), t=(.8,.6): 2 (I - s s^T/|s|^2)(s/|s| - t)/|s|
    s, t = torch.tensor([3., 4.]), torch.tensor([.8, .6])
    n = s.norm()
    u = s / n
    expected = 2 * (torch.eye(2) - torch.outer(u, u)) @ (u - t) / n
    assert torch.allclose(student.grad[0], expected, atol=1e-6)


def test_rbd_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r'\(2, 3\).*\(2, 4\)'):
        rbd_loss(torch.ones(2, 3), torch.ones(2, 4))


def test_logit_distillation_hand_computed():
    student = torch.tensor([[math.log(3.), 0.]])  # softmax (0.75, 0.25)
    teacher = torch.zeros(1, 2)  # uniform target
    expected = -0.5 * (math.log(0.75) + math.log(0.25))
    assert logit_distillation_loss(student, teacher).item() == pytest.approx(expected)
    # T = 2: student softmax (sqrt3, 1) / (sqrt3 + 1).
    p = math.sqrt(3) / (math.sqrt(3) + 1)
    expected_t2 = -0.5 * (math.log(p) + math.log(1 - p))
    assert logit_distillation_loss(student, teacher, 2.0).item() == pytest.approx(
        expected_t2)


def test_logit_distillation_softens_both_sides_with_the_temperature():
    # Teacher (0, log 3) at T = 2: softmax (1, sqrt3) / (1 + sqrt3); the
    # student (log 3, 0): (sqrt3, 1) / (1 + sqrt3). Cross-entropy by hand.
    p = math.sqrt(3) / (math.sqrt(3) + 1)
    student = torch.tensor([[math.log(3.), 0.]])
    teacher = torch.tensor([[0., math.log(3.)]])
    expected = -((1 - p) * math.log(p) + p * math.log(1 - p))
    assert logit_distillation_loss(student, teacher, 2.0).item() == \
        pytest.approx(expected)


def test_logit_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r'\(1, 2\).*\(1, 3\)'):
        logit_distillation_loss(torch.ones(1, 2), torch.ones(1, 3))


def _rbd_elementwise64(student, teacher):
    """The formula as written, elementwise, in float64: the reference."""
    s = torch.nn.functional.normalize(student.double().flatten(1), dim=1)
    t = torch.nn.functional.normalize(teacher.double().flatten(1), dim=1)
    return (s - t).pow(2).sum(dim=1).mean()


@pytest.mark.parametrize('noise', [1.0, 1e-2])
def test_rbd_loss_equals_the_elementwise_formula(noise):
    # Large activations (0.3 M elements a sample), unrelated (loss near 2)
    # or pointing nearly the same way (loss 1e-4, where a difference of
    # dot products cancels): value and gradient as the float64 formula's.
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(3, 8, 160, 240, generator=g)
    student = (teacher + noise * torch.randn(teacher.shape, generator=g)) * 3
    student.requires_grad_()
    s64 = student.detach().double().requires_grad_()
    expected = _rbd_elementwise64(s64, teacher)
    expected.backward()
    loss = rbd_loss(student, teacher)
    loss.backward()
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected.item(), rel=1e-3, abs=1e-7)
    assert torch.allclose(student.grad.double(), s64.grad, rtol=1e-3,
                          atol=1e-4 * s64.grad.abs().max().item())


def test_rbd_loss_zero_activation():
    # F.normalize maps a zero vector to zero: the distance to a unit
    # vector is 1; two zero vectors are at 0.
    zero, one = torch.zeros(1, 4), torch.tensor([[0., 3., 0., 4.]])
    assert rbd_loss(zero, one).item() == pytest.approx(1.0)
    assert rbd_loss(one, zero).item() == pytest.approx(1.0)
    assert rbd_loss(zero, zero).item() == 0.0
