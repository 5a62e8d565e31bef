"""ReActNet's learnable activation shapes (docs/methods.md 3.3)."""
import torch
import torch.nn as nn


class LearnableShift(nn.Module):
    """``x + b_c``: a learnable per-channel shift (zero at start).

    Before a binary conv it is the threshold of ReActNet's **RSign**: the conv
    then takes the sign of ``x + b`` (its activation binarizer, ApproxSign
    backward), so a training step that keeps activations real (AdamBNN's
    weights-first ablation) keeps this input real too.
    """

    def __init__(self, channels: int):
        super().__init__()
        # 1-D, so AdamBNN's "decay only ndim == 4" leaves it alone.
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return x + self.bias.view(1, -1, 1, 1)


RSign = LearnableShift


class RPReLU(nn.Module):
    """ReActNet's RPReLU: ``PReLU_c(x - gamma_c) + zeta_c``, learnable
    per-channel shifts ``gamma`` (before) and ``zeta`` (after) and slope
    (0.25 at start, PyTorch's PReLU default)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.prelu = nn.PReLU(channels)
        self.zeta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return (self.prelu(x - self.gamma.view(1, -1, 1, 1)) +
                self.zeta.view(1, -1, 1, 1))
