"""mmbnn/analysis/summary.py: parameter and MAC counts by hand."""
import pytest
import torch
import torch.nn as nn

from mmbnn.analysis import summarize
from mmbnn.models.layers import BinaryConv2d


def test_summary_counts_by_hand():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),                                 # 8x8 -> 6x6, real
        BinaryConv2d(4, 8, 3),                              # 6x6 -> 4x4, binary
        BinaryConv2d(8, 8, 1, binarize='activations'),      # real weights
        nn.Flatten(), nn.Linear(128, 2))
    s = summarize(model, torch.randn(1, 3, 8, 8))
    assert s.total('binary_params') == 8 * 4 * 9
    assert s.total('fp_params') == (4 * 27 + 4) + 8 + (64 + 8) + (256 + 2)
    assert s.total('binary_macs') == 8 * 4 * 4 * 36
    assert s.total('fp_macs') == 4 * 6 * 6 * 27 + 8 * 4 * 4 * 8 + 2 * 128
    n_bin, n_fp = 288, 450
    assert s.compression == pytest.approx((n_bin + n_fp) * 4 / (n_bin / 8 + n_fp * 4))
    assert s.binary_mac_fraction == pytest.approx(4608 / (4608 + 3888 + 1024 + 256))
