"""mmbnn/models/backbones/reactnet.py: ReActNet-A's shapes and parameter
count by hand, in classifier and detector configs."""
import pytest
import torch


def _hand_count(widths, stem):
    """Parameters of ReActNet-A's backbone, from methods.md 3.3: stem conv +
    BN; per block a 3x3 conv (in x in x 9), its BN, RSign (in) and RPReLU
    (3 per channel); one or two 1x1 convs with BNs, RSign and RPReLU (out)."""
    total = 3 * stem * 9 + 2 * stem
    cin = stem
    for cout in widths:
        total += cin * cin * 9 + 2 * cin + cin + 3 * cin
        total += (cout // cin) * (cin * cin + 2 * cin) + cin + 3 * cout
        cin = cout
    return total


def test_reactnet_a_shapes_and_parameter_count():
    from mmbnn.models.backbones import ReActNetA
    widths = [64, 128, 128, 256, 256] + [512] * 6 + [1024, 1024]
    model = ReActNetA(out_indices=(0, 1, 2, 3, 4))
    assert sum(p.numel() for p in model.parameters()) == _hand_count(widths, 32)
    # With the 1000-way FC: ReActNet-A's published 29.3 M parameters.
    assert round((_hand_count(widths, 32) + 1024 * 1000 + 1000) / 1e6, 1) == 29.3
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4),
        (1, 1024, 2, 2)]
    small = ReActNetA(widen_factor=0.25)
    assert sum(p.numel() for p in small.parameters()) == _hand_count(
        [w // 4 for w in widths], 8)
    binary = [m for m in model.modules() if getattr(m, 'binary_weights', False)]
    assert len(binary) == 13 + 13 + 5  # 3x3 convs, 1x1 convs, doubled ones


def test_reactnet_a_in_classifier_and_detector_configs():
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.registry import MODELS
    from mmpretrain.registry import MODELS as CLS_MODELS

    for registry in (MODELS, DET_MODELS, CLS_MODELS):
        net = registry.build(dict(type='ReActNetA', widen_factor=0.25,
                                  out_indices=(3, 4)))
        outs = net(torch.randn(2, 3, 64, 64))
        assert [tuple(o.shape[1:]) for o in outs] == [(128, 4, 4), (256, 2, 2)]
    with pytest.raises(ValueError, match='out_indices'):
        MODELS.build(dict(type='ReActNetA', out_indices=(5, )))
