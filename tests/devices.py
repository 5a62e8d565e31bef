"""What the device tier (tests/test_device) shares: the devices present and
comparisons of a device's result with a CPU reference."""
import pytest
import torch

CUDA = torch.cuda.is_available()
DEVICES = ['cpu', pytest.param('cuda', marks=pytest.mark.skipif(
    not CUDA, reason='no CUDA device on this machine'))]


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """``|got - want| / |want|`` (Frobenius norms) over the finite elements,
    computed in float64 on the CPU; inf where ``got`` is not finite where
    ``want`` is (or differs from it where ``want`` is not: an unset running
    cap is inf on every device)."""
    got = got.detach().to('cpu', torch.float64)
    want = want.detach().to('cpu', torch.float64)
    finite = torch.isfinite(want)
    if not torch.equal(torch.isfinite(got), finite) or \
            not torch.equal(got[~finite], want[~finite]):
        return float('inf')
    got, want = got[finite], want[finite]
    if want.numel() == 0:
        return 0.0
    return float((got - want).norm() / want.norm().clamp_min(1e-300))


def assert_close_to(got, want, rel, what=''):
    """``got`` (any device, any dtype) within relative error ``rel`` of
    ``want`` and of its shape."""
    assert tuple(got.shape) == tuple(want.shape), (what, got.shape, want.shape)
    err = relative_error(got, want)
    assert err <= rel, f'{what}: relative error {err:.3g} > {rel:g}'
