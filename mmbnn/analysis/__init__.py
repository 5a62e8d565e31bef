from .diagnostics import (abs_histogram, count_changed, count_flips,
                          latent_signs, pack_bits, saturation, unpack_bits)
from .summary import LayerRow, Summary, summarize

__all__ = ['LayerRow', 'Summary', 'summarize', 'abs_histogram', 'count_changed',
           'count_flips', 'latent_signs', 'pack_bits', 'saturation',
           'unpack_bits']
