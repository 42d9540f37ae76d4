"""The S2A network: F5-TTS's infilling DiT with semantic tokens where F5 has text.

    tok = ConvNeXtV2ᶜ(Embed(codes per frame) + positions)            (b, n, c)
    x   = Linear(cat(x_t, cond, tok)) ;  x ← x + ConvPos(x)           (b, n, d)
    x   = DiTBlock_i(x, TimeEmbed(t)), i = 1..depth (RoPE, AdaLN-zero)
    v   = proj_out(AdaLNFinal(x, t))                                  (b, n, f)

Codes arrive already repeated to the mel frames (``S2AConfig.token_index``); the mask code
marks padding and dropped tokens. Padding frames are hidden everywhere (attention keys,
convolutions, GRN statistics), so a row's velocity does not depend on its batch. AdaLN
modulations and the output layers start at zero: v = 0 at init.
"""
# b: batch, n: mel frames, f: mel bins, c: token channels, d: model channels

from __future__ import annotations

import torch
from torch import Tensor, nn

from flowvox.models.semantic.s2a_config import S2AConfig
from flowvox.nn.attention import RotaryEmbedding
from flowvox.nn.convnext_v2 import ConvNeXtV2Block
from flowvox.nn.dit_block import AdaLayerNormFinal, DiTBlock
from flowvox.nn.embeddings import ConvPositionEmbedding, TimestepEmbedding, position_sinusoid


class S2ANetwork(nn.Module):
    """v = S2ANetwork(x_t, cond, token features, t); see the module docstring."""

    def __init__(self, config: S2AConfig) -> None:
        super().__init__()
        self.config = config
        dim, c = config.dim, config.token_dim
        self.time_embed = TimestepEmbedding(dim)
        self.token_embed = nn.Embedding(config.codebook_size + 1, c)  # last row: mask code
        self.token_blocks = nn.ModuleList(
            [ConvNeXtV2Block(c, 2 * c) for _ in range(config.conv_layers)]
        )
        self.input_proj = nn.Linear(2 * config.mel_dim + c, dim)
        self.conv_pos_embed = ConvPositionEmbedding(dim)
        self.rotary_embed = RotaryEmbedding(config.dim_head)
        self.blocks = nn.ModuleList(
            [
                DiTBlock(dim, config.heads, config.dim_head, config.ff_mult, config.dropout)
                for _ in range(config.depth)
            ]
        )
        self.norm_out = AdaLayerNormFinal(dim)
        self.proj_out = nn.Linear(dim, config.mel_dim)
        for block in self.blocks:
            nn.init.zeros_(block.attn_norm.linear.weight)
            nn.init.zeros_(block.attn_norm.linear.bias)
        for layer in (self.norm_out.linear, self.proj_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def encode_tokens(self, frame_codes: Tensor, mask: Tensor) -> Tensor:
        """frame_codes (b, n) int64 (one code per mel frame, the mask code at padding and
        where dropped), mask (b, n) True on real frames -> token features (b, n, c), zero at
        padding. Computed once per generation."""
        pad = ~mask[..., None]  # (b, n, 1)
        h = self.token_embed(frame_codes)  # (b, n, c)
        n, c = frame_codes.shape[1], h.shape[-1]
        h = (h + position_sinusoid(n, c, device=h.device).to(h.dtype)).masked_fill(pad, 0.0)
        for block in self.token_blocks:
            h = block(h, mask).masked_fill(pad, 0.0)
        return h

    def forward(self, x_t: Tensor, cond: Tensor, tokens: Tensor, t: Tensor, mask: Tensor) -> Tensor:
        """x_t, cond (b, n, f) noisy mel and voice prompt (zero where to infill or dropped);
        tokens (b, n, c) from ``encode_tokens``; t (b,); mask (b, n) -> velocity (b, n, f)."""
        c = self.time_embed(t)  # (b, d)
        x = self.input_proj(torch.cat((x_t, cond, tokens), dim=-1))  # (b, n, d)
        x = x + self.conv_pos_embed(x, mask)
        rope = self.rotary_embed(x.shape[1])
        for block in self.blocks:
            x = block(x, c, rope, mask)
        return self.proj_out(self.norm_out(x, c))  # (b, n, f)
