"""The VQ bottleneck: a cosine-similarity codebook with a straight-through gradient.

    z = normalize(in_proj(e))                                  e (b, n, d) -> z (b, n, c)
    k = argmax_j ⟨z, ĉ_j⟩,  ĉ_j = c_j / ‖c_j‖                  codes (b, n) in 0 .. K − 1
    q = ĉ_k;  q_st = z + sg(q − z)                             forward q, gradient to z
    out = LN(blocks(out_proj(q_st) + sinusoids))               (b, n, d), what the decoder reads
    L_codebook = mean ‖q − sg(z)‖²,  L_commit = mean ‖z − sg(q)‖²   over real positions

Code K (``mask_code``) marks padding / masked positions: it has no vector, its positions
are hidden from the post blocks and from the decoder, and its output rows are zero. The
post blocks restore context after the quantiser, as WhisperSpeech's ``out_blocks`` do.
"""
# b: batch, n: 25 Hz frames, d: model channels, c: codebook channels, K: codebook size

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.layers import EncoderBlock, attention_mask, sinusoids


@dataclass
class Quantized:
    """What ``CosineVQ`` gives for embeddings (b, n, d)."""

    codes: Tensor  # (b, n) int64, mask code at padding
    quantized: Tensor  # (b, n, d) the decoder's input, zero at padding
    mask: Tensor  # (b, n) True on real positions
    codebook_loss: Tensor  # () mean ‖q − sg(z)‖² over real positions
    commitment_loss: Tensor  # () mean ‖z − sg(q)‖² over real positions


class CosineVQ(nn.Module):
    """Embeddings (b, n, d) -> codes (b, n) and the quantised embeddings (b, n, d)."""

    def __init__(self, config: SemanticConfig) -> None:
        super().__init__()
        d, c, eps = config.dim, config.codebook_dim, config.layer_norm_eps
        self.mask_code = config.mask_code
        self.in_proj = nn.Linear(d, c)
        self.codebook = nn.Parameter(torch.randn(config.codebook_size, c))  # (K, c)
        self.out_proj = nn.Linear(c, d)
        self.layers = nn.ModuleList(
            EncoderBlock(d, config.encoder_heads, config.encoder_ffn_dim, config.dropout, eps)
            for _ in range(config.vq_post_depth)
        )
        self.layer_norm = nn.LayerNorm(d, eps=eps)

    def unit_codebook(self) -> Tensor:
        """ĉ (K, c): the codes scaled to unit length."""
        return F.normalize(self.codebook, dim=-1)

    def forward(self, emb: Tensor, mask: Tensor | None = None) -> Quantized:
        """emb (b, n, d), mask (b, n) True on real positions (None: all) -> ``Quantized``."""
        if mask is None:
            mask = torch.ones(emb.shape[:2], dtype=torch.bool, device=emb.device)
        z = F.normalize(self.in_proj(emb), dim=-1)  # (b, n, c)
        book = self.unit_codebook()  # (K, c)
        codes = (z @ book.T).argmax(-1)  # (b, n)
        q = book[codes]  # (b, n, c)
        real = mask[..., None].to(z.dtype)  # (b, n, 1)
        count = real.sum().clamp(min=1.0) * z.shape[-1]
        codebook_loss = ((q - z.detach()).square() * real).sum() / count
        commitment_loss = ((z - q.detach()).square() * real).sum() / count
        q_st = z + (q - z).detach()  # straight-through
        codes = codes.masked_fill(~mask, self.mask_code)
        return Quantized(codes, self.expand(q_st, mask), mask, codebook_loss, commitment_loss)

    def lookup(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        """codes (b, n) in 0 .. K (K: mask) -> unit code vectors (b, n, c) zero at the mask
        code, and the mask (b, n) True on real codes."""
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > self.mask_code):
            raise FlowvoxError(
                f"semantic codes must lie in 0 .. {self.mask_code} ({self.mask_code} = mask), "
                f"got {int(codes.min())} .. {int(codes.max())}"
            )
        mask = codes != self.mask_code
        q = self.unit_codebook()[codes.clamp(max=self.mask_code - 1)]  # (b, n, c)
        return q.masked_fill(~mask[..., None], 0.0), mask

    def dequantize(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        """codes (b, n) -> the decoder's input (b, n, d) and its mask (b, n)."""
        q, mask = self.lookup(codes)
        return self.expand(q, mask), mask

    def expand(self, q: Tensor, mask: Tensor) -> Tensor:
        """Unit code vectors (b, n, c) -> LN(blocks(out_proj(q) + sinusoids)) (b, n, d)."""
        x = self.out_proj(q)  # (b, n, d)
        n, d = x.shape[1:]
        x = x + sinusoids(n, d).to(x.device, x.dtype)
        attn = None if bool(mask.all()) else attention_mask(mask, n, False, x.device)
        for layer in self.layers:
            x = layer(x, attn)
        return self.layer_norm(x).masked_fill(~mask[..., None], 0.0)
