"""mmbnn/models/layers/activations.py: RSign and RPReLU against their formulas."""
import torch


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
