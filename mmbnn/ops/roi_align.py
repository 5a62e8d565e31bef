"""RoIAlign on the CPU through the native library (``csrc/roi_align.cpp``):
the RoI feature extractor of two-stage detectors, which dominated a Faster
R-CNN's CPU training step (docs/benchmarks.md).

It computes what mmcv's and torchvision's CPU ``roi_align`` compute
(average pooling; ``aligned`` as theirs), equal to them bit for bit in the
forward and the backward, from a channels-last copy of the features: each
sample's bilinear weights once for all channels, and the channels in vector
loops.
"""
from typing import Optional, Sequence, Union

import torch
from torch.nn.modules.utils import _pair

from .native import library, select_isa, threads

__all__ = ['native_roi_align']


def native_roi_align(features: torch.Tensor, rois: torch.Tensor,
                     output_size: Union[int, Sequence[int]],
                     spatial_scale: float = 1.0, sampling_ratio: int = 0,
                     aligned: bool = True) -> Optional[torch.Tensor]:
    """RoIAlign (average) of ``features`` ``[N, C, H, W]`` over ``rois``
    ``[R, 5]`` (image index, x1, y1, x2, y2 in input pixels): ``[R, C, PH,
    PW]``, differentiable in ``features``. None where the native library
    cannot compute it (not float32 CPU tensors, the ``reference`` path or no
    library): the caller then uses PyTorch's or mmcv's op."""
    if not (features.device.type == rois.device.type == 'cpu'
            and features.dtype == rois.dtype == torch.float32
            and features.dim() == 4 and rois.dim() == 2
            and rois.shape[1] == 5):
        return None
    if select_isa() == 'reference' or library() is None:
        return None
    ph, pw = _pair(output_size)
    return _RoIAlign.apply(features, rois, (int(ph), int(pw)),
                           float(spatial_scale), int(sampling_ratio),
                           bool(aligned))


class _RoIAlign(torch.autograd.Function):

    @staticmethod
    def forward(ctx, features, rois, output_size, spatial_scale,
                sampling_ratio, aligned):
        n, c, h, w = features.shape
        # [N, C, H, W] in channels-last memory: [N, H, W, C] row by row.
        feat = features.detach().contiguous(memory_format=torch.channels_last)
        rois = rois.detach().contiguous()
        out = features.new_empty((rois.shape[0], c, *output_size))
        # The library's arguments around the data: the map's [N, H, W, C],
        # then after the RoIs their count and the pooling.
        ctx.dims = (n, h, w, c)
        ctx.pool = (rois.shape[0], *output_size, spatial_scale,
                    sampling_ratio, int(aligned))
        _check(library().mmbnn_roi_align_forward(
            feat.data_ptr(), *ctx.dims, rois.data_ptr(), *ctx.pool,
            out.data_ptr(), threads()), rois, n)
        ctx.save_for_backward(rois)
        return out

    @staticmethod
    def backward(ctx, grad):
        (rois, ) = ctx.saved_tensors
        grad_in = None
        if ctx.needs_input_grad[0]:
            n, h, w, c = ctx.dims
            grad = grad.contiguous()
            grad_nhwc = grad.new_zeros((n, h, w, c))
            _check(library().mmbnn_roi_align_backward(
                grad.data_ptr(), *ctx.dims, rois.data_ptr(), *ctx.pool,
                grad_nhwc.data_ptr(), threads()), rois, n)
            grad_in = grad_nhwc.permute(0, 3, 1, 2).contiguous()
        return grad_in, None, None, None, None, None


def _check(bad: int, rois: torch.Tensor, images: int):
    if bad:
        index = rois[:, 0].long()
        wrong = index[(index < 0) | (index >= images)]
        raise ValueError(f'roi_align: {bad} RoI(s) name an image index '
                         f'outside [0, {images}) (e.g. {int(wrong[0])}); a '
                         'RoI is (image index, x1, y1, x2, y2)')
