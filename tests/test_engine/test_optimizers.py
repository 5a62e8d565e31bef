"""mmbnn/engine/optimizers.py: AdamBNN's weight decay on conv kernels only."""
import pytest
import torch

from toy import Mixed

# Written out by hand: the parameters with ndim == 4 are the conv kernels.
DECAYED = {'conv.weight', 'binary.weight'}


@pytest.mark.parametrize('weight_decay', [5e-6, 0.0])
def test_only_conv_kernels_get_weight_decay(weight_decay):
    from mmengine.optim import build_optim_wrapper

    model = Mixed()
    wrapper = build_optim_wrapper(model, dict(
        constructor='ConvDecayOptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=1e-3, weight_decay=weight_decay)))
    assert type(wrapper.optimizer) is torch.optim.Adam  # coupled L2, not AdamW
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    assert set(decay) == set(names.values())
    assert {n for n, wd in decay.items() if wd} == (DECAYED if weight_decay
                                                    else set())
    assert all(decay[n] == weight_decay for n in DECAYED)
