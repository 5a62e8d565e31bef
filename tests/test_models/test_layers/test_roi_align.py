"""mmbnn's RoIAlign layer and FastSingleRoIExtractor: what mmcv's layer and
mmdet's SingleRoIExtractor compute, output and gradient, bit for bit."""
import pytest
import torch

mmcv_ops = pytest.importorskip('mmcv.ops')
pytest.importorskip('mmdet')


def _extractor(kind, roi_layer):
    from mmbnn.registry import MODELS
    import mmbnn.plugin  # noqa: F401  (registers FastSingleRoIExtractor)
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
    cfg = dict(roi_layer=roi_layer, out_channels=16,
               featmap_strides=[4, 8, 16, 32])
    if kind == 'mmdet':
        return SingleRoIExtractor(**cfg)
    return MODELS.build(dict(type='FastSingleRoIExtractor', **cfg))


def test_fast_extractor_equals_mmdets():
    """Four FPN levels of a 2-image batch, RoIs of every scale (so every
    level gets some): features and their gradients equal mmdet's."""
    from mmbnn.models.layers.roi_align import RoIAlign
    layer = dict(type='RoIAlign', output_size=7, sampling_ratio=0)
    ours, theirs = _extractor('mmbnn', layer), _extractor('mmdet', layer)
    assert all(type(m) is RoIAlign for m in ours.roi_layers)
    assert all(type(m) is mmcv_ops.RoIAlign for m in theirs.roi_layers)
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 16, 512 // s, 512 // s, generator=g)
             for s in (4, 8, 16, 32)]
    # sqrt(area) 4-500 px: levels 0-3 (mmdet: floor(log2(scale / 56)))
    wh = torch.logspace(0.6, 2.7, 60)[:, None] * (
        0.8 + 0.4 * torch.rand(60, 2, generator=g))
    xy = torch.rand(60, 2, generator=g) * (511 - wh)
    rois = torch.cat([(torch.arange(60) % 2)[:, None].float(), xy, xy + wh], 1)
    grad = torch.randn(60, 16, 7, 7, generator=g)
    results = []
    for extractor in (ours, theirs):
        leaves = [f.clone().requires_grad_() for f in feats]
        out = extractor(leaves, rois)
        (out * grad).sum().backward()
        results.append((out.detach(), [f.grad for f in leaves]))
    assert torch.equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        assert torch.equal(a, b)
    assert all(grad.abs().sum() > 0 for grad in results[0][1])  # all levels


def test_max_pooling_and_other_layers_stay_mmcvs():
    from mmbnn.models.layers.roi_align import RoIAlign
    layer = RoIAlign(2, 1.0, 0, pool_mode='max')
    feat = torch.randn(1, 3, 6, 6)
    rois = torch.tensor([[0.0, 0.5, 0.5, 4.0, 5.0]])
    assert torch.equal(layer(feat, rois), mmcv_ops.roi_align(
        feat, rois, (2, 2), 1.0, 0, 'max', True))
    pooled = _extractor('mmbnn', dict(type='RoIPool', output_size=7))
    assert all(type(m) is mmcv_ops.RoIPool for m in pooled.roi_layers)
