"""Position and time embeddings: sinusoid tables, the time MLP, the convolutional position
embedding. Layouts follow F5-TTS exactly (they differ between time and text positions)."""
# b: batch, n: frames, d: channels, k: d/2 frequencies

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError


def time_sinusoid(t: Tensor, dim: int = 256, scale: float = 1000.0) -> Tensor:
    """Sinusoid of times t (b,) -> (b, dim), laid out cat(sin, cos).

    ω_i = exp(-i · ln(10000) / (dim/2 - 1)), i = 0 .. dim/2 - 1; row = [sin(s t ω), cos(s t ω)]
    with s = ``scale`` (F5: 1000, so t in [0, 1] spans many periods).
    """
    half = dim // 2
    step = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -step)  # (k,)
    angles = scale * t.float()[:, None] * freqs[None, :]  # (b, k)
    return torch.cat((angles.sin(), angles.cos()), dim=-1)  # (b, dim)


def position_sinusoid(
    n: int,
    dim: int,
    theta: float = 10000.0,
    max_pos: int = 8192,
    device: torch.device | str | None = None,
) -> Tensor:
    """Absolute position table (n, dim) laid out cat(cos, sin) (F5's text positions).

    ω_i = theta^(-2i/dim); row p = [cos(p ω), sin(p ω)] with p clamped to ``max_pos`` - 1
    (F5-TTS 1.1.22 precomputes 8192 rows, 87 s of 24 kHz audio, and fails beyond; here the
    last row repeats).
    """
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, device=device)[: dim // 2].float() / dim))
    positions = torch.arange(n, device=device).clamp(max=max_pos - 1).float()  # (n,)
    angles = positions[:, None] * freqs[None, :]  # (n, k)
    return torch.cat((angles.cos(), angles.sin()), dim=-1)  # (n, dim)


class TimestepEmbedding(nn.Module):
    """t (b,) -> (b, dim): ``time_sinusoid`` (width ``freq_dim``) -> Linear -> SiLU -> Linear.

    Named ``time_mlp.0`` / ``time_mlp.2`` as in F5-TTS.
    """

    def __init__(self, dim: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.time_mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        hidden = time_sinusoid(t, self.freq_dim).to(t.dtype)  # (b, freq_dim)
        return self.time_mlp(hidden)  # (b, dim)


class ConvPositionEmbedding(nn.Module):
    """Relative position from two grouped convolutions along n, each followed by Mish.

    x (b, n, d) -> (b, n, d); kernel 31, 16 groups, zero "same" padding; ``conv1d.0`` and
    ``conv1d.2`` are the convolutions (F5 names). With ``mask`` (b, n) the padding frames are
    zeroed before, between and after the convolutions, so every item sees exactly the zero
    padding it would see alone.
    """

    def __init__(self, dim: int, kernel_size: int = 31, groups: int = 16) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise FlowvoxError(
                f"ConvPositionEmbedding kernel_size {kernel_size} is even; use an odd kernel "
                "(e.g. 31) so the 'same' padding keeps n frames"
            )
        pad = kernel_size // 2
        self.conv1d = nn.Sequential(
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=pad),
            nn.Mish(),
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=pad),
            nn.Mish(),
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        h = x.transpose(1, 2)  # (b, d, n)
        if mask is None:
            return self.conv1d(h).transpose(1, 2)
        pad = ~mask[:, None, :]  # (b, 1, n) True at padding
        h = h.masked_fill(pad, 0.0)
        h = self.conv1d[1](self.conv1d[0](h)).masked_fill(pad, 0.0)
        h = self.conv1d[3](self.conv1d[2](h)).masked_fill(pad, 0.0)
        return h.transpose(1, 2)  # (b, n, d)
