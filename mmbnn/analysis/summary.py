"""Larq-style model summary: binary vs full-precision parameters, memory and MACs."""
from dataclasses import dataclass, field
from typing import List

import torch
import torch.nn as nn

from mmbnn.models.layers.binary import BinaryMixin


@dataclass
class LayerRow:
    name: str
    kind: str
    binary_params: int = 0
    fp_params: int = 0
    binary_macs: int = 0
    fp_macs: int = 0


@dataclass
class Summary:
    rows: List[LayerRow] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(getattr(r, key) for r in self.rows)

    @property
    def binary_bytes(self) -> float:
        return self.total('binary_params') / 8

    @property
    def fp_bytes(self) -> float:
        return self.total('fp_params') * 4

    @property
    def compression(self) -> float:
        """Float32 size of every parameter over the mixed 1/32-bit size."""
        all_fp = (self.total('binary_params') + self.total('fp_params')) * 4
        return all_fp / max(self.binary_bytes + self.fp_bytes, 1e-12)

    @property
    def binary_mac_fraction(self) -> float:
        macs = self.total('binary_macs') + self.total('fp_macs')
        return self.total('binary_macs') / macs if macs else 0.0

    def format(self) -> str:
        head = (f'{"layer":<48}{"type":<16}{"binary par":>13}{"fp par":>13}'
                f'{"binary MACs":>17}{"fp MACs":>17}')
        lines = [head, '-' * len(head)]
        for r in self.rows:
            lines.append(f'{r.name[-47:]:<48}{r.kind[:15]:<16}'
                         f'{r.binary_params:>13,}{r.fp_params:>13,}'
                         f'{r.binary_macs:>17,}{r.fp_macs:>17,}')
        lines.append('-' * len(head))
        lines.append(f'{"total":<64}{self.total("binary_params"):>13,}'
                     f'{self.total("fp_params"):>13,}'
                     f'{self.total("binary_macs"):>17,}{self.total("fp_macs"):>17,}')
        lines += [
            f'memory: binary {self.binary_bytes / 2**20:.3f} MiB (1 bit each), '
            f'full precision {self.fp_bytes / 2**20:.3f} MiB (32 bit each)',
            f'compression vs all-float32: {self.compression:.2f}x',
            f'binary MACs: {100 * self.binary_mac_fraction:.1f}% of '
            f'{self.total("binary_macs") + self.total("fp_macs"):,}'
        ]
        return '\n'.join(lines)


def summarize(model: nn.Module, *inputs, **kwargs) -> Summary:
    """Count parameters per module and MACs of one forward of ``model`` (give
    it a single image).

    A weight is binary when its layer binarizes weights; a MAC is binary when
    both its weight and its input are binary (an XNOR-popcount on device).
    """
    rows, by_module = [], {}
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if not own and not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        row = LayerRow(name or '(model)', type(module).__name__)
        for pname, param in module.named_parameters(recurse=False):
            if (pname == 'weight' and isinstance(module, BinaryMixin)
                    and module.binary_weights):
                row.binary_params += param.numel()
            else:
                row.fp_params += param.numel()
        rows.append(row)
        by_module[module] = row

    def count(module, args, output):
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * int(
                torch.tensor(module.kernel_size).prod())
        else:
            per_output = module.in_features
        # All MACs of the call: the summary runs one image, so a RoI head's
        # per-proposal layers count once per proposal.
        macs = output.numel() * per_output
        row = by_module[module]
        if (isinstance(module, BinaryMixin) and module.binary_weights
                and module.binary_activations):
            row.binary_macs += macs
        else:
            row.fp_macs += macs

    handles = [m.register_forward_hook(count) for m in by_module
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return Summary(rows)
