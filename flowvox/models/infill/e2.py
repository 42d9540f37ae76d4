"""The E2-TTS backbone: a flat transformer with U-Net-style skips, text embedded in the input.

Same inputs and output as the DiT backbone. The text is a character embedding padded with
fillers to the mel length (by default no ConvNeXt blocks, and text_dim = mel width),
concatenated to the noisy mel and the prompt by the same ``InputEmbedding``. The time is not
an AdaLN condition: its embedding is prepended to the sequence as one extra token.

    x = [TimeEmbedding(t) (+ W_g g); InputEmbedding(x_t, cond, text)]      (b, 1 + n, d)
    layers 1 .. L/2 push their input; layers L/2+1 .. L pop the mirrored one and join it
    (concat: x = W · cat(x, skip); add: x = x + skip; none)
    each layer: x += Attn(RMSNorm(x)); x += FF(RMSNorm(x))
    v = proj_out(RMSNorm(x))[:, 1:]

Names: ``layers.{i}.{skip_proj, attn_norm.g, attn.*, ff_norm.g, ff.ff.*}``; the official
UNetT stores the same tensors as ``layers.{i}.{0, 1, 2, 3, 4}`` in that order. With that
renaming, ``hide_padding=False`` and unpadded batches this computes what F5-TTS 1.1.22's UNetT
computes; with padding it masks the text and position convolution as the DiT does (UNetT
does not).
"""
# b: batch, n: mel frames, f: mel bins, c: text channels, d: model channels,
# k: speaker d-vector channels

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from flowvox.models.infill.config import InfillTTSConfig
from flowvox.models.infill.embed import InputEmbedding, SpeakerEmbedding, TextEmbedding
from flowvox.nn.attention import Attention, Rope, RotaryEmbedding
from flowvox.nn.dit_block import FeedForward
from flowvox.nn.embeddings import TimestepEmbedding
from flowvox.nn.norms import RMSNorm


class E2Layer(nn.Module):
    """Pre-norm attention + feed-forward, joining a skip from the mirrored layer when given."""

    def __init__(self, config: InfillTTSConfig, joins_skip: bool) -> None:
        super().__init__()
        dim = config.dim
        self.skip_type = config.e2_skip if joins_skip else "none"
        self.skip_proj = nn.Linear(dim * 2, dim, bias=False) if self.skip_type == "concat" else None
        self.attn_norm = RMSNorm(dim)
        self.attn = Attention(
            dim, config.heads, config.dim_head, config.dropout, rope_heads=config.rope_heads
        )
        self.ff_norm = RMSNorm(dim)
        self.ff = FeedForward(dim, mult=config.ff_mult, dropout=config.dropout)

    def forward(
        self, x: Tensor, skip: Tensor | None, rope: Rope, mask: Tensor | None, mask_keys: bool
    ) -> Tensor:
        if self.skip_type == "concat":
            x = self.skip_proj(torch.cat((x, skip), dim=-1))  # (b, 1 + n, d)
        elif self.skip_type == "add":
            x = x + skip
        x = x + self.attn(self.attn_norm(x), rope, mask, mask_keys)
        return x + self.ff(self.ff_norm(x))


class E2Backbone(nn.Module):
    """v = E2(x_t, cond, text features, t): velocity (b, n, f); see the module docstring."""

    def __init__(self, config: InfillTTSConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        self.time_embed = TimestepEmbedding(dim)
        self.text_embed = TextEmbedding(
            config.require_vocab(), config.text_width, config.conv_layers, config.mask_fillers
        )
        self.input_embed = InputEmbedding(config.mel_dim, config.text_width, dim)
        self.rotary_embed = RotaryEmbedding(config.dim_head)
        half = config.depth // 2
        self.layers = nn.ModuleList([E2Layer(config, i >= half) for i in range(config.depth)])
        self.norm_out = RMSNorm(dim)
        self.proj_out = nn.Linear(dim, config.mel_dim)
        # the speaker d-vector (cond_dim > 0), made last: the other weights draw as without it
        self.cond_embed = SpeakerEmbedding(config.cond_dim, dim) if config.cond_dim else None

    def forward(
        self,
        x_t: Tensor,
        cond: Tensor,
        text: Tensor,
        t: Tensor,
        mask: Tensor | None = None,
        drop_audio_cond: Tensor | None = None,
        spk: Tensor | None = None,
    ) -> Tensor:
        """x_t, cond (b, n, f); text (b, n, c); t (b,); mask (b, n) or None;
        drop_audio_cond (b,) bool or None; spk (b, k) speaker d-vectors (cond_dim > 0) ->
        velocity (b, n, f)."""
        hide = self.config.hide_padding
        x = self.input_embed(x_t, cond, text, drop_audio_cond, mask)  # (b, n, d)
        time = self.time_embed(t)  # (b, d)
        if self.cond_embed is not None:
            time = time + self.cond_embed(spk, drop_audio_cond)  # the speaker d-vector g
        x = torch.cat((time[:, None], x), dim=1)  # (b, 1 + n, d)
        if mask is not None:
            mask = F.pad(mask, (1, 0), value=True)  # the time token is always real
        rope = self.rotary_embed(x.shape[1])
        half = self.config.depth // 2
        skips: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            skip = None
            if i < half:
                skips.append(x)
            else:
                skip = skips.pop()
            if self.config.checkpoint_activations and torch.is_grad_enabled():
                x = checkpoint(layer, x, skip, rope, mask, hide, use_reentrant=False)
            else:
                x = layer(x, skip, rope, mask, hide)
        return self.proj_out(self.norm_out(x)[:, 1:])  # (b, n, f)
