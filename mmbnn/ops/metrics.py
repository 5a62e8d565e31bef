"""Training metrics of binary layers, on plain tensors (docs/methods.md 1.2, 3.2).

DTE's updating ratio and the activation saturation of a layer's input, and
AdamBNN's diagnostics over latent weights: signs, flips (the flip-flop
ratio), changes against a reference (the correlation to initialization) and
``|w|`` histograms. They run on the tensors' device; ``sign(0) = +1``.
"""
from typing import List, Sequence, Tuple

import torch

__all__ = ['updating_ratio', 'saturation', 'latent_signs', 'count_flips',
           'count_changed', 'abs_histogram']


def updating_ratio(x: torch.Tensor, t, delta: float = 0.1) -> torch.Tensor:
    """Fraction of elements with ``1 - tanh(t|x|)^2 >= delta``."""
    factor = 1 - torch.tanh(torch.as_tensor(t, device=x.device) *
                            x.detach().abs().float()) ** 2
    return (factor >= delta).float().mean()


def saturation(x: torch.Tensor) -> torch.Tensor:
    """Share of pre-sign activations with ``|x| > 1``: no gradient under a
    clipped STE (docs/methods.md 3.2)."""
    return (x.detach().abs() > 1).float().mean()


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


def abs_histogram(w: torch.Tensor, bins: int) -> Tuple[List[float], List[int]]:
    """Histogram of ``|w|`` over ``[0, max|w|]``: ``(edges, counts)``."""
    a = w.detach().abs().float().flatten()
    top = float(a.max()) if a.numel() else 1.0
    top = top if top > 0 else 1.0
    counts = torch.histc(a, bins=bins, min=0.0, max=top)
    edges = torch.linspace(0.0, top, bins + 1)
    return edges.tolist(), [int(c) for c in counts.tolist()]
