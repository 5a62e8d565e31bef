"""AdamBNN's training diagnostics over latent weights (methods.md 3.2).

Plain PyTorch on the weights' device; ``sign(0) = +1`` throughout.
"""
from typing import List, Sequence, Tuple

import torch

from mmbnn.ops import saturation

__all__ = ['latent_signs', 'count_flips', 'count_changed', 'saturation',
           'pack_bits', 'unpack_bits', 'abs_histogram']


def latent_signs(weights: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """``w >= 0`` of each tensor (``True`` is +1; ``sign(0) = +1``)."""
    return [w.detach() >= 0 for w in weights]


def count_flips(before: Sequence[torch.Tensor],
                after: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per tensor, how many signs differ: an int64 vector on the device, so a
    step's flip-flop count needs no host sync. ``FF = count.sum() / N``."""
    if len(before) != len(after):
        raise ValueError(f'{len(before)} tensors before, {len(after)} after')
    return torch.stack([(a != b).sum() for a, b in zip(before, after)])


def count_changed(reference: Sequence[torch.Tensor],
                  weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per tensor, how many latent signs differ from ``reference`` signs:
    ``p = count / numel`` and ``C2I = 1 - p``."""
    return count_flips(reference, latent_signs(weights))


def pack_bits(bits: torch.Tensor) -> torch.Tensor:
    """A bool tensor as uint8, eight per byte (first element in the high bit)."""
    flat = bits.flatten().to(torch.uint8)
    flat = torch.cat([flat, flat.new_zeros(-flat.numel() % 8)])
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8,
                           device=flat.device)
    return (flat.view(-1, 8) * weights).sum(1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, shape: Tuple[int, ...]) -> torch.Tensor:
    """Inverse of ``pack_bits`` for a tensor of ``shape``."""
    numel = 1
    for size in shape:
        numel *= size
    if packed.numel() != (numel + 7) // 8:
        raise ValueError(f'{packed.numel()} bytes cannot hold a tensor of '
                         f'shape {tuple(shape)}')
    shifts = torch.arange(7, -1, -1, device=packed.device, dtype=torch.uint8)
    bits = (packed.view(-1, 1) >> shifts) & 1
    return bits.flatten()[:numel].bool().view(shape)


def abs_histogram(w: torch.Tensor, bins: int) -> Tuple[List[float], List[int]]:
    """Histogram of ``|w|`` over ``[0, max|w|]``: ``(edges, counts)``."""
    a = w.detach().abs().float().flatten()
    top = float(a.max()) if a.numel() else 1.0
    top = top if top > 0 else 1.0
    counts = torch.histc(a, bins=bins, min=0.0, max=top)
    edges = torch.linspace(0.0, top, bins + 1)
    return edges.tolist(), [int(c) for c in counts.tolist()]
