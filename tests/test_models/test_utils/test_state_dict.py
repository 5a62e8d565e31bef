"""mmbnn/models/utils/state_dict.py: a state dict loads only where it fits;
mismatches are listed with their counts."""
import pytest
import torch

from mmbnn.models.utils.state_dict import load_fitting_state_dict
from mmbnn.utils.checkpoint import (CheckpointMismatchError, read_checkpoint,
                                    state_dict_of)


def _roundtrip(tmp_path, obj):
    path = tmp_path / 'ckpt.pth'
    torch.save(obj, path)
    return read_checkpoint(str(path), map_location='cpu')


def test_plain_state_dict_loads_and_fits(tmp_path):
    """A checkpoint of another tool: just a state dict, no mmengine wrapper."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    source = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    state = state_dict_of(_roundtrip(tmp_path, source.state_dict()))
    load_fitting_state_dict(model, state, 'ckpt.pth', 'model')
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def _net(out=4):
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8),
                               torch.nn.Conv2d(8, out, 1))


def test_mismatch_lists_missing_unexpected_and_shapes_with_counts():
    state = _net(out=5).state_dict()
    del state['1.weight']
    state['extra.a'] = torch.ones(1)
    state['extra.b'] = torch.ones(1)
    model = _net(out=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as err:
        load_fitting_state_dict(model, state, 'a.pth', 'config b.py')
    msg = str(err.value)
    assert "'a.pth'" in msg and 'config b.py' in msg
    assert '1 missing keys: 1.weight' in msg
    assert '2 unexpected keys: extra.a, extra.b' in msg
    assert ('2 shape mismatches (checkpoint vs model): 2.weight (5, 8, 1, 1) '
            'vs (4, 8, 1, 1), 2.bias (5,) vs (4,)') in msg
    # Nothing was loaded.
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_long_lists_show_the_first_few_and_the_count():
    model = torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in range(6)])
    with pytest.raises(CheckpointMismatchError,
                       match=r'12 missing keys: 0\.weight, 0\.bias, 1\.weight, '
                             r'1\.bias, 2\.weight, \.\.\. \(7 more\)'):
        load_fitting_state_dict(model, {}, 'a.pth', 'b')


def test_named_keys_may_differ_and_the_rest_loads():
    source, model = _net(out=5), _net(out=4)
    old_head = model[2].weight.clone()
    load_fitting_state_dict(model, source.state_dict(), 'a.pth', 'b',
                            allow=['2.*'])
    assert torch.equal(model[0].weight, source[0].weight)
    assert torch.equal(model[1].running_var, source[1].running_var)
    assert torch.equal(model[2].weight, old_head)  # allowed, not loaded
