"""mmbnn/models/layers/pooling.py: the channels-last CPU max-pool equals
``nn.MaxPool2d`` exactly: outputs, indices and input gradients."""
import pytest
import torch
import torch.nn as nn

from mmbnn.models.layers import MaxPool2d

CASES = [
    # (input shape, kwargs): the backbones' pools (2x2 ceil_mode, SSD's
    # pool5 3x3 stride 1, the ResNet stem's 3x3 stride 2 pad 1) on even and
    # odd sizes, dilation, a single channel, a default stride.
    ((2, 16, 24, 24), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((2, 5, 15, 9), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((1, 32, 7, 7), dict(kernel_size=3, stride=1, padding=1)),
    ((2, 64, 17, 16), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 13, 11), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0),
                          dilation=(1, 2), ceil_mode=True)),
    ((3, 1, 10, 10), dict(kernel_size=2)),
]


@pytest.mark.parametrize('shape,kwargs', CASES)
@pytest.mark.parametrize('ties', [False, True])
def test_max_pool_equals_torch(shape, kwargs, ties):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g)
    if ties:  # few distinct values: which of the equal maxima wins matters
        x = torch.randint(-2, 3, shape, generator=g).float()
    ours = MaxPool2d(return_indices=True, **kwargs)
    ref = nn.MaxPool2d(return_indices=True, **kwargs)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, idx = ours(a)
    out_ref, idx_ref = ref(b)
    assert torch.equal(out, out_ref) and torch.equal(idx, idx_ref)
    assert out.is_contiguous() and idx.is_contiguous()
    grad = torch.randn(out.shape, generator=g)
    out.backward(grad)
    out_ref.backward(grad)
    assert torch.equal(a.grad, b.grad)
    # Without indices: the output alone, as nn.MaxPool2d's.
    plain = MaxPool2d(**kwargs)(x)
    assert torch.equal(plain, nn.MaxPool2d(**kwargs)(x))


def test_max_pool_other_inputs_take_torch_path():
    # A channels-last input, a strided view and a 3-D input: nn.MaxPool2d's
    # own forward, same values.
    x = torch.randn(2, 8, 12, 12)
    pool, ref = MaxPool2d(2, 2), nn.MaxPool2d(2, 2)
    for v in (x.contiguous(memory_format=torch.channels_last),
              x[:, :, ::2], x[0]):
        assert torch.equal(pool(v), ref(v))
    # The state dict is nn.MaxPool2d's (empty): checkpoints do not change.
    assert pool.state_dict() == {} and isinstance(pool, nn.MaxPool2d)
