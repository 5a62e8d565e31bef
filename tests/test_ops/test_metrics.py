"""mmbnn/ops/metrics.py: the diagnostics' counts on tensors, by hand."""
import pytest
import torch


def test_diagnostics_primitives_by_hand():
    from mmbnn.ops import abs_histogram, count_flips, latent_signs
    from mmbnn.ops.bits import pack_bool_bytes as pack_bits
    from mmbnn.ops.bits import unpack_bool_bytes as unpack_bits
    signs, = latent_signs([torch.tensor([-1.0, 0.0, 2.0])])
    assert signs.tolist() == [False, True, True]  # sign(0) = +1
    with pytest.raises(ValueError, match='2 tensors before, 1 after'):
        count_flips([signs, signs], [signs])
    # |w| = 3, 1, 0.5, 2.9 over [0, 3] in 3 bins: [0, 1), [1, 2), [2, 3].
    edges, counts = abs_histogram(torch.tensor([-3.0, 1.0, 0.5, 2.9]), 3)
    assert edges == [0.0, 1.0, 2.0, 3.0] and counts == [1, 1, 2]
    edges, counts = abs_histogram(torch.zeros(5), 2)  # all zero: [0, 1]
    assert edges == [0.0, 0.5, 1.0] and counts == [5, 0]
    edges, counts = abs_histogram(torch.zeros(0), 2)
    assert edges == [0.0, 0.5, 1.0] and counts == [0, 0]
    bits = torch.tensor([1, 0, 1, 1, 0, 0, 0, 0, 1], dtype=torch.bool)
    packed = pack_bits(bits)
    assert packed.tolist() == [0b10110000, 0b10000000]  # high bit first
    assert packed.dtype == torch.uint8  # one byte per eight signs
    # Over [0, max|w|] also when max|w| < 1: |w| = 0.5, 0.1 in 2 bins.
    edges, counts = abs_histogram(torch.tensor([0.5, -0.1]), 2)
    assert edges == pytest.approx([0.0, 0.25, 0.5]) and counts == [1, 1]
    assert torch.equal(unpack_bits(packed, (3, 3)), bits.view(3, 3))
    with pytest.raises(ValueError, match='2 bytes cannot hold'):
        unpack_bits(packed, (4, 5))
