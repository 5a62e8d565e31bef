"""The native RoIAlign (mmbnn.ops.roi_align): equal, bit for bit, to mmcv's
CPU op (the one mmdet's RoI extractors run) in the forward and the
backward, and to a float64 formula written here on a hand-made case."""
import pytest
import torch

from mmbnn.ops.roi_align import native_roi_align

mmcv_ops = pytest.importorskip('mmcv.ops')


@pytest.fixture
def native_path(monkeypatch):
    from mmbnn.ops import native
    if native.library() is None:
        pytest.skip('the native library is not built here')
    monkeypatch.setenv('MMBNN_ISA', native.available_isas()[0])


def random_rois(n_images, count, extent, generator, inverted=False):
    """Boxes in input pixels: some reaching past the map on any side, some
    empty, with ``inverted`` some with x2 < x1 (mmcv refuses those when
    aligned; the native op, as torchvision's, gives them zeros), every image
    used."""
    index = torch.arange(count) % n_images
    xy = (torch.rand(count, 2, generator=generator) * 1.3 - 0.2) * extent
    wh = torch.rand(count, 2, generator=generator) * extent * 0.7
    wh[::7] = 0.0  # empty boxes
    if inverted:
        wh[3::11] *= -0.2
    return torch.cat([index[:, None].float(), xy, xy + wh], 1)


CASES = [  # (N, C, H, W, RoIs, spatial scale, sampling ratio, aligned, out)
    (4, 64, 20, 18, 300, 0.25, 0, True, (7, 7)),
    (2, 3, 13, 17, 50, 0.5, 2, False, (7, 7)),
    (3, 20, 9, 7, 120, 1.0, 0, True, (5, 3)),
    (1, 70, 5, 6, 40, 0.125, 3, False, (2, 4)),
    (2, 16, 1, 1, 20, 1.0, 0, True, (7, 7)),  # a one-pixel map
]


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('threads', [1, 3])
def test_equals_mmcv_forward_and_backward(native_path, case, threads):
    n, c, h, w, count, scale, sampling, aligned, size = case
    g = torch.Generator().manual_seed(n * 100 + c)
    feat = torch.randn(n, c, h, w, generator=g)
    rois = random_rois(n, count, max(h, w) / scale, g, inverted=not aligned)
    grad = torch.randn(count, c, *size, generator=g)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = []
        for op in (lambda f: mmcv_ops.roi_align(f, rois, size, scale,
                                                 sampling, 'avg', aligned),
                   lambda f: native_roi_align(f, rois, size, scale, sampling,
                                              aligned)):
            f = feat.clone().requires_grad_()
            out = op(f)
            (out * grad).sum().backward()
            results.append((out.detach(), f.grad))
    finally:
        torch.set_num_threads(previous)
    (want, want_grad), (got, got_grad) = results
    assert got.shape == want.shape == (count, c, *size)
    assert torch.equal(got, want)
    assert torch.equal(got_grad, want_grad)
    assert got_grad.is_contiguous()


def test_hand_computed_case(native_path):
    """One 2x2 bin grid over a 4x4 map whose value is 10 y + x: bilinear
    samples of a linear map are the map at the sample, so each bin's
    average is 10 y + x at the bin's centre. Not aligned, scale 1: the box
    (0, 0)-(2, 2) has bins of 1 pixel, sampled 2 x 2 at +0.25 and +0.75;
    the gradient of the output's sum spreads 1/4 per sample over the
    sample's neighbours."""
    y, x = torch.meshgrid(torch.arange(4.), torch.arange(4.), indexing='ij')
    feat = (10 * y + x)[None, None].requires_grad_()
    rois = torch.tensor([[0., 0., 0., 2., 2.]])
    out = native_roi_align(feat, rois, 2, 1.0, 2, False)
    centres = torch.tensor([0.5, 1.5])
    want = (10 * centres[:, None] + centres[None, :]).double()
    torch.testing.assert_close(out[0, 0].double(), want, rtol=0, atol=1e-6)

    out.sum().backward()
    # Samples at 0.25, 0.75, 1.25, 1.75 on each axis; a sample at s gives
    # (1 - frac) to floor(s) and frac to floor(s) + 1, each times 1/4.
    weights = torch.zeros(4, dtype=torch.float64)
    for s in (0.25, 0.75, 1.25, 1.75):
        weights[int(s)] += 1 - (s - int(s))
        weights[int(s) + 1] += s - int(s)
    want_grad = torch.outer(weights, weights) / 4
    torch.testing.assert_close(feat.grad[0, 0].double(), want_grad, rtol=0,
                               atol=1e-6)


def test_no_rois_gives_an_empty_output(native_path):
    feat = torch.randn(1, 8, 5, 5, requires_grad=True)
    out = native_roi_align(feat, torch.zeros(0, 5), 7, 1.0)
    assert out.shape == (0, 8, 7, 7)
    out.sum().backward()
    assert torch.equal(feat.grad, torch.zeros_like(feat))


def test_an_image_index_out_of_range_is_an_error(native_path):
    feat = torch.randn(2, 4, 5, 5)
    rois = torch.tensor([[0., 0., 0., 3., 3.], [2., 0., 0., 3., 3.]])
    with pytest.raises(ValueError, match=r'outside \[0, 2\).*e\.g\. 2'):
        native_roi_align(feat, rois, 2, 1.0)


@pytest.mark.parametrize('dtype, device_ok', [(torch.float64, True),
                                              (torch.float32, False)])
def test_other_tensors_are_left_to_the_caller(native_path, dtype, device_ok):
    feat = torch.randn(1, 4, 5, 5, dtype=dtype)
    rois = torch.tensor([[0., 0., 0., 3., 3.]], dtype=dtype)
    if not device_ok:
        feat = feat.to('meta')
    assert native_roi_align(feat, rois, 2, 1.0) is None


def test_the_reference_path_is_left_to_the_caller(monkeypatch):
    monkeypatch.setenv('MMBNN_ISA', 'reference')
    feat = torch.randn(1, 4, 5, 5)
    assert native_roi_align(feat, torch.zeros(1, 5), 2, 1.0) is None


def test_threads_split_images_and_channels_without_changing_a_bit(native_path):
    """More threads than images splits the channels: the gradient of many
    overlapping RoIs on one image is the same on 1, 2 and 4 threads."""
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(1, 48, 12, 12, generator=g)
    rois = random_rois(1, 400, 12, g)
    grads = []
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            f = feat.clone().requires_grad_()
            native_roi_align(f, rois, 7, 1.0, 0, True).pow(2).sum().backward()
            grads.append(f.grad)
    finally:
        torch.set_num_threads(previous)
    for other in grads[1:]:
        assert torch.equal(other, grads[0])
    assert grads[0].abs().sum() > 0
