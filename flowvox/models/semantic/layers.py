"""Whisper's transformer pieces: attention, pre-LN encoder and decoder blocks, sinusoids.

Module and parameter names are those of transformers' ``WhisperEncoderLayer`` /
``WhisperDecoderLayer`` (``self_attn.q_proj``, ``encoder_attn.k_proj``, ``fc1``,
``final_layer_norm`` ...), so a Whisper state dict loads by name
(``flowvox.models.semantic.whisper``). ``flowvox.nn.attention.Attention`` does not fit:
Whisper's key projection has no bias and its blocks cross-attend.

    encoder block:  x <- x + SelfAttn(LN x);                    x <- x + MLP(LN x)
    decoder block:  x <- x + CausalSelfAttn(LN x);  x <- x + CrossAttn(LN x, memory);
                    x <- x + MLP(LN x)
    MLP(x) = fc2(GELU(fc1 x)) (exact GELU);  attention: softmax(q kᵀ / √e) v per head
"""
# b: batch, n: query positions, m: key positions (memory), d: channels, h: heads,
# e: channels per head, k: d/2 frequencies

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> Tensor:
    """Whisper's position table (length, channels), laid out cat(sin, cos):
    ω_i = exp(-i · ln(max_timescale) / (channels/2 − 1)), row p = [sin(p ω), cos(p ω)]."""
    step = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-step * torch.arange(channels // 2, dtype=torch.float32))  # (k,)
    angles = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]  # (length, k)
    return torch.cat((angles.sin(), angles.cos()), dim=1)


def attention_mask(
    key_mask: Tensor | None, n: int, causal: bool, device: torch.device
) -> Tensor | None:
    """A boolean SDPA mask (True = attend), broadcast to (b, 1, n, m), or None for none.

    key_mask: (b, m) True on real keys; causal: query i sees keys 0 .. i (then m = n).
    """
    mask = None if key_mask is None else key_mask[:, None, None, :]  # (b, 1, 1, m)
    if causal:
        tri = torch.ones(n, n, dtype=torch.bool, device=device).tril()  # (n, m)
        mask = tri[None, None] if mask is None else mask & tri[None, None]
    return mask


class WhisperAttention(nn.Module):
    """Multi-head attention with Whisper's projections (no bias on k_proj): queries from
    x (b, n, d), keys and values from ``memory`` (b, m, d) or from x itself."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(
        self, x: Tensor, memory: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """x (b, n, d), memory (b, m, d) or None (self-attention), mask from
        ``attention_mask`` -> (b, n, d)."""
        source = x if memory is None else memory
        q = rearrange(self.q_proj(x), "b n (h e) -> b h n e", h=self.heads)
        k = rearrange(self.k_proj(source), "b m (h e) -> b h m e", h=self.heads)
        v = rearrange(self.v_proj(source), "b m (h e) -> b h m e", h=self.heads)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (b, h, n, e)
        return self.out_proj(rearrange(out, "b h n e -> b n (h e)"))


class EncoderBlock(nn.Module):
    """Pre-LN self-attention and MLP (``WhisperEncoderLayer``): (b, n, d) -> (b, n, d)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.self_attn = WhisperAttention(dim, heads, dropout)
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def mlp(self, x: Tensor) -> Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(self.final_layer_norm(x))))))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (b, n, d); mask: ``attention_mask`` of the real frames, or None."""
        x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), mask=mask))
        return x + self.mlp(x)


class DecoderBlock(EncoderBlock):
    """``WhisperDecoderLayer``: causal self-attention, cross-attention to the memory, MLP."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float, eps: float) -> None:
        super().__init__(dim, heads, ffn_dim, dropout, eps)
        self.encoder_attn = WhisperAttention(dim, heads, dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(  # type: ignore[override]  # a decoder block also reads the memory
        self, x: Tensor, memory: Tensor, self_mask: Tensor | None, memory_mask: Tensor | None
    ) -> Tensor:
        """x (b, n, d) tokens, memory (b, m, d); masks from ``attention_mask`` (causal for
        ``self_mask``)."""
        x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), mask=self_mask))
        h = self.encoder_attn(self.encoder_attn_layer_norm(x), memory, memory_mask)
        x = x + self.dropout(h)
        return x + self.mlp(x)
