"""The T2S-FM network: a DiT over semantic frames that cross-attends to the text's bytes.

    text:   h = TextEncoder(bytes)                       (b, l, dim) (``flowvox.nn``, RoPE)
            h = h + P_text(progress(j / L))              byte j of L
    frames: x = W_in x_t + P_frame(progress(i / N))      (b, n, dim), frame i of N
            c = TimestepEmbedding(t)                     (b, dim)
    each block:
            x = DiTBlock(x, c)                           adaLN-zero self-attention (RoPE) + FF
            x = x + CrossAttn(LN x, h)                   every frame reads every byte
    v = W_out adaLN_final(x, c)                          (b, n, d) velocity, zero at padding

progress(f) is ``time_sinusoid`` of the fraction f ∈ [0, 1): a frame and a byte at the same
fraction of their sequences get similar features, a prior for the (monotone, unknown)
alignment that cross-attention learns. Why cross-attention and not F5's concatenation
(text padded to N frames and added channel-wise): bytes (M, ≈ 15 a second) and 25 Hz
frames (N) have no alignment and their ratio varies with the speaking rate; cross-attention
reads the whole text from every frame whatever N is (also N < M, fast speech), the text is
encoded once per sampling run and reused at every solver step, and the dropped text of
guidance is one null token. Concatenation makes the DiT find the alignment through
self-attention over filler positions, which F5/E2 report converges slowly on small data.

Every layer is per position or masked attention, so a row's output does not depend on the
padding its batch brings. The output projection, the adaLN modulations and the cross-
attention outputs start at zero: a fresh network predicts v = 0.
"""
# b: batch, n: semantic frames (25 Hz), l: text bytes, d: embedding channels (the
# tokenizer's), k: channels of the model

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

from flowvox.models.semantic.layers import WhisperAttention, attention_mask
from flowvox.models.semantic.t2s_fm_config import TEXT_VOCAB, T2SFlowConfig
from flowvox.nn.attention import RotaryEmbedding
from flowvox.nn.dit_block import AdaLayerNormFinal, DiTBlock
from flowvox.nn.embeddings import TimestepEmbedding, time_sinusoid
from flowvox.nn.text_encoder import TextEncoder, TextEncoderConfig

PROGRESS_DIM = 64  # width of the progress sinusoid


@dataclass(frozen=True)
class TextContext:
    """The encoded text every frame attends to."""

    h: Tensor  # (b, l, k), zero at padding
    mask: Tensor  # (b, l) True on real bytes


def progress_features(lengths: Tensor, n: int, dim: int = PROGRESS_DIM) -> Tensor:
    """Sinusoid features (b, n, dim) of the fraction i / length of each position i (rows
    past their length get fractions >= 1; they are padding)."""
    frac = torch.arange(n, device=lengths.device)[None, :] / lengths[:, None].clamp(min=1)
    return rearrange(time_sinusoid(frac.flatten(), dim), "(b n) k -> b n k", n=n)


class T2SBlock(nn.Module):
    """A ``DiTBlock`` then cross-attention to the text (pre-LN, zero-initialised output)."""

    def __init__(self, config: T2SFlowConfig) -> None:
        super().__init__()
        dim = config.dim
        self.dit = DiTBlock(dim, config.heads, config.dim_head, config.ff_mult, config.dropout)
        self.cross_norm = nn.LayerNorm(dim)
        self.cross = WhisperAttention(dim, config.heads, config.dropout)
        nn.init.zeros_(self.dit.attn_norm.linear.weight)  # adaLN-zero: starts as identity
        nn.init.zeros_(self.dit.attn_norm.linear.bias)
        nn.init.zeros_(self.cross.out_proj.weight)
        nn.init.zeros_(self.cross.out_proj.bias)

    def forward(
        self, x: Tensor, c: Tensor, rope, mask: Tensor, text: TextContext, cross_mask: Tensor
    ) -> Tensor:
        """x (b, n, k), c (b, k), mask (b, n), cross_mask (b, 1, 1, l) -> (b, n, k)."""
        x = self.dit(x, c, rope, mask)
        return x + self.cross(self.cross_norm(x), text.h, cross_mask)


class T2SNetwork(nn.Module):
    """(x_t (b, n, d), t (b,), text, frame mask) -> velocity (b, n, d); module docstring."""

    def __init__(self, config: T2SFlowConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        text_cfg = TextEncoderConfig(
            vocab_size=TEXT_VOCAB, out_dim=dim, dim=config.text_dim, depth=config.text_depth,
            heads=config.text_heads, ffn_dim=config.text_ffn_dim, prenet_layers=2,
            dropout=config.dropout,
        )  # fmt: skip
        self.text_encoder = TextEncoder(text_cfg)
        self.text_progress = nn.Linear(PROGRESS_DIM, dim)
        self.frame_progress = nn.Linear(PROGRESS_DIM, dim)
        self.proj_in = nn.Linear(config.emb_dim, dim)
        self.time_embed = TimestepEmbedding(dim)
        self.rotary = RotaryEmbedding(config.dim_head)
        self.blocks = nn.ModuleList(T2SBlock(config) for _ in range(config.depth))
        self.norm_out = AdaLayerNormFinal(dim)
        self.proj_out = nn.Linear(dim, config.emb_dim)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def encode_text(self, ids: Tensor, lengths: Tensor) -> TextContext:
        """Byte ids (b, l) (``TEXT_NULL`` for dropped text), lengths (b,) -> ``TextContext``."""
        out = self.text_encoder(ids, lengths)  # mu: (b, l, k), zero at padding
        h = out.mu + self.text_progress(progress_features(lengths, ids.shape[1]).to(out.mu))
        return TextContext(h.masked_fill(~out.mask[..., None], 0.0), out.mask)

    def forward(self, x: Tensor, t: Tensor, text: TextContext, mask: Tensor) -> Tensor:
        """x (b, n, d) state, t (b,) times, text of batch b, mask (b, n) True on real
        frames -> v (b, n, d), zero at padding."""
        n = x.shape[1]
        lengths = mask.sum(dim=1)  # (b,)
        h = self.proj_in(x) + self.frame_progress(progress_features(lengths, n).to(x))
        c = self.time_embed(t.to(x.dtype))  # (b, k)
        rope = self.rotary(n)
        cross_mask = attention_mask(text.mask, n, False, x.device)  # (b, 1, 1, l)
        for block in self.blocks:
            h = block(h, c, rope, mask, text, cross_mask)
        v = self.proj_out(self.norm_out(h, c))  # (b, n, d)
        return v.masked_fill(~mask[..., None], 0.0)
