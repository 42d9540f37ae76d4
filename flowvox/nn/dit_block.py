"""Diffusion-transformer block with adaptive LayerNorm-zero (Peebles & Xie 2023), F5 layout.

One block, conditioned on a time embedding c (b, d):

    shift₁, scale₁, gate₁, shift₂, scale₂, gate₂ = chunk₆(W SiLU(c) + b)
    x ← x + gate₁ · Attn(LN(x) · (1 + scale₁) + shift₁)
    x ← x + gate₂ · FF(LN(x) · (1 + scale₂) + shift₂)

LN is LayerNorm without affine parameters, eps 1e-6. FF is Linear → GELU(tanh) → Linear.
Names (``attn_norm.linear``, ``attn.to_q``, ``ff.ff.0.0``, ``ff.ff.2``) follow F5-TTS.
"""
# b: batch, n: frames, d: channels

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from flowvox.nn.attention import Attention, Rope


class Modulation(NamedTuple):
    """What ``AdaLayerNorm`` gives: the modulated input of attention and the other factors."""

    x: Tensor  # (b, n, d) LN(x) · (1 + scale₁) + shift₁
    gate_msa: Tensor  # (b, d)
    shift_mlp: Tensor  # (b, d)
    scale_mlp: Tensor  # (b, d)
    gate_mlp: Tensor  # (b, d)


class AdaLayerNorm(nn.Module):
    """Six modulation vectors from the time embedding, chunked in the order shift_msa,
    scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp; applies the first two."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, dim * 6)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: Tensor, c: Tensor) -> Modulation:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.linear(
            self.silu(c)
        ).chunk(6, dim=1)  # six (b, d)
        x = self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        return Modulation(x, gate_msa, shift_mlp, scale_mlp, gate_mlp)


class AdaLayerNormFinal(nn.Module):
    """Final modulation: (scale, shift) = chunk₂(W SiLU(c) + b) — note scale comes first —
    then LN(x) · (1 + scale) + shift."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, dim * 2)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        scale, shift = self.linear(self.silu(c)).chunk(2, dim=1)  # (b, d) each
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


class FeedForward(nn.Module):
    """Linear(d, int(d · mult)) → GELU(tanh) → Dropout → Linear(·, d); named ``ff.0.0``,
    ``ff.2``."""

    def __init__(self, dim: int, mult: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        inner = int(dim * mult)
        project_in = nn.Sequential(nn.Linear(dim, inner), nn.GELU(approximate="tanh"))
        self.ff = nn.Sequential(project_in, nn.Dropout(dropout), nn.Linear(inner, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.ff(x)


class DiTBlock(nn.Module):
    """AdaLN-zero block: attention (with RoPE) and feed-forward, both gated by the time."""

    def __init__(
        self,
        dim: int,
        heads: int,
        dim_head: int = 64,
        ff_mult: float = 4.0,
        dropout: float = 0.1,
        rope_heads: int | None = None,
    ) -> None:
        super().__init__()
        self.attn_norm = AdaLayerNorm(dim)
        self.attn = Attention(dim, heads, dim_head, dropout=dropout, rope_heads=rope_heads)
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(dim, mult=ff_mult, dropout=dropout)

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        rope: Rope | None = None,
        mask: Tensor | None = None,
        mask_keys: bool = True,
    ) -> Tensor:
        """x (b, n, d), time embedding c (b, d), mask (b, n) True on real frames -> (b, n, d)."""
        mod = self.attn_norm(x, c)
        x = x + mod.gate_msa[:, None] * self.attn(mod.x, rope, mask, mask_keys)
        h = self.ff_norm(x) * (1 + mod.scale_mlp[:, None]) + mod.shift_mlp[:, None]
        return x + mod.gate_mlp[:, None] * self.ff(h)
