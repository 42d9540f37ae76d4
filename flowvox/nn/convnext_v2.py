"""ConvNeXt-V2 block with Global Response Normalization (Woo et al. 2023), on (b, n, d).

F5-TTS's text encoder stacks these; names (``dwconv``, ``norm``, ``pwconv1``, ``grn.gamma``,
``grn.beta``, ``pwconv2``) follow it so its checkpoints load.
"""
# b: batch, n: frames, d: channels, h: hidden channels of the pointwise MLP

from __future__ import annotations

import torch
from torch import Tensor, nn


class GRN(nn.Module):
    """Global Response Normalization over the sequence axis.

    G_c = ||x_{:, c}||_2 over n;  N_c = G_c / (mean_c G_c + 1e-6);  y = γ ⊙ (x ⊙ N) + β + x
    with γ, β of shape (1, 1, h), starting at zero (so the block starts as plain ConvNeXt).
    With ``mask`` (b, n) the norms run over the True frames only.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        counted = x if mask is None else x.masked_fill(~mask[..., None], 0.0)
        g = torch.linalg.vector_norm(counted, ord=2, dim=1, keepdim=True)  # (b, 1, h)
        n = g / (g.mean(dim=-1, keepdim=True) + 1e-6)  # (b, 1, h)
        return self.gamma * (x * n) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """y = x + W₂ GRN(GELU(W₁ LN(dwconv(x)) + b₁)) + b₂.

    dwconv: depthwise along n (kernel 7, zero "same" padding); LN: LayerNorm over d with
    affine, eps 1e-6; W₁: d -> h, W₂: h -> d; GELU the exact (erf) form.
    """

    def __init__(self, dim: int, hidden_dim: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.grn = GRN(hidden_dim)
        self.pwconv2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (b, n, d) -> (b, n, d); ``mask`` (b, n) limits GRN's norms to the True frames."""
        h = self.dwconv(x.transpose(1, 2)).transpose(1, 2)  # (b, n, d), conv on (b, d, n)
        h = self.norm(h)
        h = self.act(self.pwconv1(h))  # (b, n, h)
        h = self.pwconv2(self.grn(h, mask))  # (b, n, d)
        return x + h
