"""RMS normalisation in the x-transformers form used by E2-TTS (weight named ``g``)."""
# "...": any leading axes, d: channels

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class RMSNorm(nn.Module):
    """y = x / max(||x||₂, 1e-12) · √d · g over the last axis (d,); g starts at 1.

    Equal to x / rms(x) · g except for the tiny-norm guard.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.g = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.g
