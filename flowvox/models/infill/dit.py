"""The F5-TTS DiT backbone: text encoder, input embedding, AdaLN-zero transformer, output.

Module tree and state-dict names follow F5-TTS (``time_embed.time_mlp.{0,2}``,
``text_embed.text_embed``, ``text_embed.text_blocks.{j}.*``, ``input_embed.proj``,
``input_embed.conv_pos_embed.conv1d.{0,2}``, ``rotary_embed.inv_freq``,
``transformer_blocks.{i}.{attn_norm.linear, attn.to_q/k/v, attn.to_out.0, ff.ff.0.0, ff.ff.2}``,
``long_skip_connection``, ``norm_out.linear``, ``proj_out``), so the official EMA weights load
after stripping their ``ema_model.transformer.`` prefix.
"""
# b: batch, n: mel frames, f: mel bins, c: text channels, d: model channels,
# k: speaker d-vector channels

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from flowvox.models.infill.config import InfillTTSConfig
from flowvox.models.infill.embed import InputEmbedding, SpeakerEmbedding, TextEmbedding
from flowvox.nn.attention import RotaryEmbedding
from flowvox.nn.dit_block import AdaLayerNormFinal, DiTBlock
from flowvox.nn.embeddings import TimestepEmbedding


class DiT(nn.Module):
    """v = DiT(x_t, cond, text features, t): velocity (b, n, f) of the noisy mel x_t.

    x = InputEmbedding(x_t, cond, text)            (b, n, d)
    c = TimeEmbedding(t) (+ W_g g, the speaker d-vector, when cond_dim > 0)
    x = DiTBlock_i(x, c), i = 1..depth, RoPE in attention
    x = Linear(cat(x, x_input)) with the optional long skip
    v = proj_out(AdaLNFinal(x, c))
    AdaLN modulations and the output layers start at zero (AdaLN-zero): v = 0 at init.
    """

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
        self.transformer_blocks = nn.ModuleList(
            [
                DiTBlock(
                    dim,
                    config.heads,
                    config.dim_head,
                    ff_mult=config.ff_mult,
                    dropout=config.dropout,
                    rope_heads=config.rope_heads,
                )
                for _ in range(config.depth)
            ]
        )
        self.long_skip_connection = (
            nn.Linear(dim * 2, dim, bias=False) if config.long_skip else None
        )
        self.norm_out = AdaLayerNormFinal(dim)
        self.proj_out = nn.Linear(dim, config.mel_dim)
        # the speaker d-vector (cond_dim > 0), made last: the other weights draw as without it
        self.cond_embed = SpeakerEmbedding(config.cond_dim, dim) if config.cond_dim else None
        self._zero_init()

    def _zero_init(self) -> None:
        for block in self.transformer_blocks:
            nn.init.zeros_(block.attn_norm.linear.weight)
            nn.init.zeros_(block.attn_norm.linear.bias)
        for layer in (self.norm_out.linear, self.proj_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

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
        """x_t, cond (b, n, f); text (b, n, c) encoded text; t (b,); mask (b, n) True on real
        frames or None; drop_audio_cond (b,) bool or None; spk (b, k) speaker d-vectors
        (cond_dim > 0) -> velocity (b, n, f)."""
        c = self.time_embed(t)  # (b, d)
        if self.cond_embed is not None:
            c = c + self.cond_embed(spk, drop_audio_cond)  # the speaker d-vector g
        x = self.input_embed(x_t, cond, text, drop_audio_cond, mask)  # (b, n, d)
        rope = self.rotary_embed(x.shape[1])
        residual = x
        for block in self.transformer_blocks:
            if self.config.checkpoint_activations and torch.is_grad_enabled():
                x = checkpoint(
                    block, x, c, rope, mask, self.config.hide_padding, use_reentrant=False
                )
            else:
                x = block(x, c, rope, mask, self.config.hide_padding)
        if self.long_skip_connection is not None:
            x = self.long_skip_connection(torch.cat((x, residual), dim=-1))
        return self.proj_out(self.norm_out(x, c))  # (b, n, f)
