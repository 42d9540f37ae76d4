"""The latent network: a DiT over latent patches with cross-attention to the caption.

    tokens = Linear(patch(x))                 x (b, C, T, F) -> (b, T' F', dim)
             + freq_embed[f']                 a learned vector per frequency patch
    c      = MLP(sinusoid(τ))                 τ (b,): 999 t (flow) or the step k (diffusion)
             [+ MLP(mean of the caption)]       ``pooled_caption``: the caption also steers adaLN
    each block:
      h, gates = adaLN(x, c)
      x <- x + gate₁ · SelfAttn(h)            RoPE over the time index t', padding hidden
      x <- x + CrossAttn(LN x, caption)       caption padding hidden
      x <- x + gate₂ · FF(LN x · (1 + scale₂) + shift₂)
    out    = unpatch(Linear(adaLN_final(x, c)))   -> (b, C, T, F), zero at padding frames

Output and last projection start at zero (adaLN-zero style), so a fresh network predicts 0.
"""
# b: batch, c: latent channels, t: latent frames, f: latent freq bins, n: patches, l: caption
# tokens, d: channels, h: heads, e: channels per head

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.models.tta.config import LatentFlowConfig
from flowvox.nn.attention import Attention, Rope, RotaryEmbedding
from flowvox.nn.dit_block import AdaLayerNorm, AdaLayerNormFinal, FeedForward
from flowvox.nn.embeddings import time_sinusoid


class CrossAttention(nn.Module):
    """Queries from x (b, n, d), keys and values from the caption (b, l, d_c)."""

    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(context_dim, inner)
        self.to_v = nn.Linear(context_dim, inner)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        """x (b, n, d), context (b, l, d_c), context_mask (b, l) bool -> (b, n, d)."""
        q = rearrange(self.to_q(x), "b n (h e) -> b h n e", h=self.heads)
        k = rearrange(self.to_k(context), "b l (h e) -> b h l e", h=self.heads)
        v = rearrange(self.to_v(context), "b l (h e) -> b h l e", h=self.heads)
        attn_mask = context_mask[:, None, None, :]  # (b, 1, 1, l)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (b, h, n, e)
        return self.to_out(rearrange(out, "b h n e -> b n (h e)"))


class LatentBlock(nn.Module):
    """One DiT block with cross-attention between self-attention and feed-forward."""

    def __init__(self, config: LatentFlowConfig) -> None:
        super().__init__()
        dim = config.dim
        self.attn_norm = AdaLayerNorm(dim)
        self.attn = Attention(dim, config.heads, config.dim_head, dropout=config.dropout)
        self.cross_norm = nn.LayerNorm(dim)
        self.cross = CrossAttention(dim, config.caption_dim, config.heads, config.dim_head)
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(dim, mult=config.ff_mult, dropout=config.dropout)

    def forward(
        self, x: Tensor, c: Tensor, rope: Rope, mask: Tensor, caption: Tensor, caption_mask: Tensor
    ) -> Tensor:
        """x (b, n, d), c (b, d), mask (b, n), caption (b, l, d_c), caption_mask (b, l)."""
        mod = self.attn_norm(x, c)
        x = x + mod.gate_msa[:, None] * self.attn(mod.x, rope, mask)
        x = x + self.cross(self.cross_norm(x), caption, caption_mask)
        h = self.ff_norm(x) * (1 + mod.scale_mlp[:, None]) + mod.shift_mlp[:, None]
        return x + mod.gate_mlp[:, None] * self.ff(h)


class LatentDiT(nn.Module):
    """(x (b, C, T, F), τ (b,), caption, masks) -> (b, C, T, F); see the module docstring."""

    def __init__(self, config: LatentFlowConfig) -> None:
        super().__init__()
        self.config = config
        dim, pt, pf = config.dim, config.patch_time, config.patch_freq
        self.patch_in = nn.Linear(config.patch_dim, dim)
        self.freq_embed = nn.Parameter(torch.zeros(config.latent_freq // pf, dim))
        nn.init.normal_(self.freq_embed, std=0.02)
        self.time_mlp = nn.Sequential(
            nn.Linear(config.time_freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim)
        )
        self.caption_mlp = (  # the masked mean of the caption, added to the time vector
            nn.Sequential(nn.Linear(config.caption_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
            if config.pooled_caption
            else None
        )
        self.rotary = RotaryEmbedding(config.dim_head)
        self.blocks = nn.ModuleList(LatentBlock(config) for _ in range(config.depth))
        self.norm_out = AdaLayerNormFinal(dim)
        self.patch_out = nn.Linear(dim, config.patch_dim)
        for block in self.blocks:  # adaLN-zero: each block starts as the identity
            nn.init.zeros_(block.attn_norm.linear.weight)
            nn.init.zeros_(block.attn_norm.linear.bias)
        nn.init.zeros_(self.patch_out.weight)
        nn.init.zeros_(self.patch_out.bias)
        self.pt, self.pf = pt, pf

    def forward(
        self,
        x: Tensor,
        tau: Tensor,
        caption: Tensor,
        caption_mask: Tensor,
        frame_mask: Tensor,
    ) -> Tensor:
        """x (b, C, T, F) latents, tau (b,) network time, caption (b, l, d_c) with
        caption_mask (b, l) bool, frame_mask (b, T) bool (True on real latent frames)."""
        b, _, t, _ = x.shape
        pt, pf = self.pt, self.pf
        pad = (-t) % pt
        x = x.masked_fill(~frame_mask[:, None, :, None], 0.0)  # padding -> exactly 0
        x = F.pad(x, (0, 0, 0, pad))  # (b, c, T'·pt, f)
        frames = F.pad(frame_mask, (0, pad))[:, ::pt]  # (b, T'): patch valid if its 1st frame is
        tp, fp = x.shape[2] // pt, x.shape[3] // pf
        patches = rearrange(x, "b c (t pt) (f pf) -> b (t f) (c pt pf)", pt=pt, pf=pf)
        h = self.patch_in(patches)  # (b, n, d), n = T' F'
        h = h + self.freq_embed.repeat(tp, 1)[None].to(h.dtype)  # (1, n, d)
        mask = frames.repeat_interleave(fp, dim=1)  # (b, n)
        table = self.rotary(tp)  # (T', e): RoPE over the time index only
        time_index = torch.arange(tp, device=x.device).repeat_interleave(fp)  # (n,)
        rope = Rope(cos=table.cos[time_index], sin=table.sin[time_index])  # (n, e)
        sinusoid = time_sinusoid(tau, self.config.time_freq_dim, scale=1.0)  # (b, freq)
        c = self.time_mlp(sinusoid.to(h.dtype))  # (b, d)
        if self.caption_mlp is not None:
            keep = caption_mask[..., None].to(h.dtype)  # (b, l, 1)
            pooled = (caption.to(h.dtype) * keep).sum(1) / keep.sum(1).clamp_min(1.0)  # (b, d_c)
            c = c + self.caption_mlp(pooled)
        for block in self.blocks:
            h = block(h, c, rope, mask, caption.to(h.dtype), caption_mask.bool())
        out = self.patch_out(self.norm_out(h, c))  # (b, n, c pt pf)
        out = rearrange(
            out, "b (t f) (c pt pf) -> b c (t pt) (f pf)", t=tp, pt=pt, pf=pf, c=x.shape[1]
        )
        out = out[:, :, :t]  # (b, C, T, F)
        return out.masked_fill(~frame_mask[:, None, :, None], 0.0)
