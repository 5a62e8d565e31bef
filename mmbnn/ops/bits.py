"""Bit layouts of sign tensors (``True`` is +1; ``sign(0) = +1``).

Two layouts, for two jobs, each with its own names:

- **bit words** (``pack_bit_words``): int64 words along the last dimension,
  bit ``j`` of word ``i`` is element ``64 i + j`` (little-endian), tail bits
  0: what the XNOR-popcount kernels read and the ``.mmbnn`` file stores;
- **bool bytes** (``pack_bool_bytes``): a whole tensor flattened into uint8
  bytes, first element in the high bit (``numpy.packbits`` order): how the
  training diagnostics keep a run's initial signs in its checkpoints.
"""
from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ['pack_bit_words', 'unpack_bit_words', 'pack_bool_bytes',
           'unpack_bool_bytes']


def pack_bit_words(bits: torch.Tensor) -> torch.Tensor:
    """Pack a bool tensor ``[..., C]`` along its last dim into int64 words
    ``[..., ceil(C / 64)]``: bit ``j`` of word ``i`` is element ``64 i + j``
    (little-endian words); tail bits are 0."""
    c = bits.shape[-1]
    words = (c + 63) // 64
    padded = F.pad(bits.to(torch.uint8), (0, words * 64 - c))
    weights = (1 << torch.arange(8, dtype=torch.int32, device=bits.device))
    by = (padded.view(*bits.shape[:-1], words * 8, 8).to(torch.int32) *
          weights).sum(-1).to(torch.uint8)
    return by.view(torch.int64) if by.is_contiguous() else \
        by.contiguous().view(torch.int64)


def unpack_bit_words(words: torch.Tensor, c: int) -> torch.Tensor:
    """Inverse of ``pack_bit_words``: a bool tensor ``[..., c]``."""
    by = words.contiguous().view(torch.uint8)
    shifts = torch.arange(8, dtype=torch.uint8, device=words.device)
    bits = (by.unsqueeze(-1) >> shifts) & 1
    return bits.flatten(-2)[..., :c].bool()


def pack_bool_bytes(bits: torch.Tensor) -> torch.Tensor:
    """A bool tensor as uint8, eight per byte (first element in the high bit)."""
    flat = bits.flatten().to(torch.uint8)
    flat = torch.cat([flat, flat.new_zeros(-flat.numel() % 8)])
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8,
                           device=flat.device)
    return (flat.view(-1, 8) * weights).sum(1, dtype=torch.uint8)


def unpack_bool_bytes(packed: torch.Tensor,
                      shape: Tuple[int, ...]) -> torch.Tensor:
    """Inverse of ``pack_bool_bytes`` for a tensor of ``shape``."""
    numel = 1
    for size in shape:
        numel *= size
    if packed.numel() != (numel + 7) // 8:
        raise ValueError(f'{packed.numel()} bytes cannot hold a tensor of '
                         f'shape {tuple(shape)}')
    shifts = torch.arange(7, -1, -1, device=packed.device, dtype=torch.uint8)
    bits = (packed.view(-1, 1) >> shifts) & 1
    return bits.flatten()[:numel].bool().view(shape)
