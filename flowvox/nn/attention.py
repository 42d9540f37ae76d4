"""Multi-head self-attention over torch SDPA, with interleaved rotary position embedding.

RoPE (GPT-J style, interleaved pairs): channels (2i, 2i+1) of a head at position p rotate by
the angle p · θ_i with θ_i = base^(-2i/e):

    y_2i   = x_2i cos(p θ_i) - x_2i+1 sin(p θ_i)
    y_2i+1 = x_2i+1 cos(p θ_i) + x_2i sin(p θ_i)

Parameter and buffer names (``inv_freq``, ``to_q``, ``to_k``, ``to_v``, ``to_out.0``) follow
F5-TTS, so its checkpoints load by name.
"""
# b: batch, h: heads, n: frames, d: model channels, e: channels per head

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange, repeat
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.errors import FlowvoxError


@dataclass(frozen=True)
class Rope:
    """Cosines and sines of the rotation angles, each (n, e), float32, pairs repeated."""

    cos: Tensor
    sin: Tensor


class RotaryEmbedding(nn.Module):
    """Angles p · θ_i for positions 0 .. n-1; ``inv_freq`` (e/2,) is kept in the state dict."""

    def __init__(self, dim_head: int, base: float = 10000.0) -> None:
        super().__init__()
        if dim_head % 2:
            raise FlowvoxError(
                f"RotaryEmbedding dim_head {dim_head} is odd; RoPE rotates channel pairs, so "
                "choose dim and heads with an even width per head (dim / heads)"
            )
        inv_freq = 1.0 / (base ** (torch.arange(0, dim_head, 2).float() / dim_head))  # (e/2,)
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, n: int) -> Rope:
        """Rotation tables for n positions: cos and sin, (n, e) each."""
        positions = torch.arange(n, device=self.inv_freq.device, dtype=torch.float32)  # (n,)
        angles = positions[:, None] * self.inv_freq.float()[None, :]  # (n, e/2)
        angles = repeat(angles, "n k -> n (k two)", two=2)  # (n, e): θ_0, θ_0, θ_1, θ_1, ...
        return Rope(cos=angles.cos(), sin=angles.sin())


def rotate_pairs(x: Tensor) -> Tensor:
    """(x_0, x_1, x_2, x_3, ...) -> (-x_1, x_0, -x_3, x_2, ...) along the last axis."""
    pairs = rearrange(x, "... (k two) -> ... k two", two=2)
    first, second = pairs.unbind(dim=-1)
    return rearrange(torch.stack((-second, first), dim=-1), "... k two -> ... (k two)")


def apply_rope(x: Tensor, rope: Rope) -> Tensor:
    """Rotate x (..., n, e) by ``rope``; computed in float32, returned in x's dtype."""
    x32 = x.float()
    return (x32 * rope.cos + rotate_pairs(x32) * rope.sin).to(x.dtype)


class Attention(nn.Module):
    """Self-attention with biased q/k/v/out projections and RoPE on the first ``rope_heads``
    heads (None: all heads, F5 v1; 1: the first head only, F5 v0 and E2).

    ``to_out`` is ``[Linear, Dropout]`` so the output layer is named ``to_out.0``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        dim_head: int = 64,
        dropout: float = 0.0,
        rope_heads: int | None = None,
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.rope_heads = rope_heads
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(dropout)])

    def qkv(self, x: Tensor, rope: Rope | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys, values (b, h, n, e) of x (b, n, d); q and k rotated by ``rope``."""
        q, k, v = (
            rearrange(proj(x), "b n (h e) -> b h n e", h=self.heads)
            for proj in (self.to_q, self.to_k, self.to_v)
        )
        if rope is not None:
            q, k = self._rotate(q, rope), self._rotate(k, rope)
        return q, k, v

    def _rotate(self, x: Tensor, rope: Rope) -> Tensor:
        if self.rope_heads is None:
            return apply_rope(x, rope)
        r = self.rope_heads
        return torch.cat((apply_rope(x[:, :r], rope), x[:, r:]), dim=1)  # (b, h, n, e)

    def forward(
        self,
        x: Tensor,
        rope: Rope | None = None,
        mask: Tensor | None = None,
        mask_keys: bool = True,
    ) -> Tensor:
        """Attend over x (b, n, d) -> (b, n, d).

        Args:
            rope: rotation tables for n positions, or None for no position encoding.
            mask: (b, n) bool, True on real frames. The output is zeroed at padding frames;
                with ``mask_keys`` padding frames are also hidden from every query (key
                padding mask), so each item sees only its own frames.
            mask_keys: False reproduces F5-TTS's default (padding keys attended to).
        """
        q, k, v = self.qkv(x, rope)
        attn_mask = None
        if mask is not None and mask_keys:
            attn_mask = mask[:, None, None, :]  # (b, 1, 1, n), broadcast over heads and queries
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (b, h, n, e)
        out = rearrange(out, "b h n e -> b n (h e)")
        out = self.to_out[1](self.to_out[0](out))  # (b, n, d)
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return out
