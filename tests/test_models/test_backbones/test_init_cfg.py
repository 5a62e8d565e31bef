"""Every backbone applies the init_cfg it is given."""
import pytest
import torch
import torch.nn as nn

from mmbnn.models.layers import BinaryConv2d


def _small_backbone(name, **kwargs):
    from mmbnn.models import backbones
    binary = dict(conv_cfg=dict(type='BinaryConv2d'))
    small = dict(SSDVGGBN=dict(widen_factor=0.0625, **binary),
                 BiRealResNet=dict(depth=20, base_channels=8, stem='cifar',
                                   out_indices=(2, )),
                 VGGSmall=dict(widen_factor=0.0625, **binary),
                 ReActNetA=dict(widen_factor=0.0625))[name]
    return getattr(backbones, name)(**small, **kwargs)


@pytest.mark.parametrize('name', ['SSDVGGBN', 'BiRealResNet', 'VGGSmall',
                                  'ReActNetA'])
@pytest.mark.parametrize('form', ['dict', 'tuple', 'list'])
def test_backbones_apply_the_init_cfg_they_are_given(name, form):
    """A dict, a tuple or a list of initializers all reach mmengine: convs
    (binary ones too) and norms get exactly the constants asked for."""
    conv = dict(type='Constant', val=0.5, layer='Conv2d')
    norm = dict(type='Constant', val=0.25, bias=0.125, layer='_BatchNorm')
    init_cfg = dict(dict=conv, tuple=(conv, norm), list=[conv, norm])[form]
    net = _small_backbone(name, init_cfg=init_cfg)
    net.init_weights()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert any(isinstance(m, BinaryConv2d) for m in convs) and norms
    assert all(torch.all(m.weight == 0.5) for m in convs)
    weight, bias = (1.0, 0.0) if form == 'dict' else (0.25, 0.125)
    assert all(torch.all(m.weight == weight) and torch.all(m.bias == bias)
               for m in norms)
