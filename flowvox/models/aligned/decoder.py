"""The aligned family's flow decoder: a DiT over frames, conditioned on the prompt, the
upsampled text μ̃, the time t and, when switched on, a speaker vector g, the guidance weight w
(guidance distillation) and the step size d (shortcut distillation)."""
# b: batch, n: frames, f: mel bins, d: decoder channels, c: speaker channels

from __future__ import annotations

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.nn.attention import RotaryEmbedding
from flowvox.nn.dit_block import AdaLayerNormFinal, DiTBlock
from flowvox.nn.embeddings import ConvPositionEmbedding, TimestepEmbedding


class FrameDecoder(nn.Module):
    """v = DiT(x_t, cond, μ̃, t [, g] [, w] [, d]) over frames -> (b, n, f).

    x = W_in cat(x_t, cond, μ̃) + ConvPos;  c = TimeEmb(t) (+ GuidanceEmb(w)) (+ StepEmb(d))
    (+ W_g g); AdaLN-zero DiT blocks with RoPE and a key padding mask;  v = W_out
    AdaLNFinal(x, c), 0 at padding frames. Dropped rows: cond = 0 where drop_audio, μ̃ = 0
    where drop_text, and g = 0 where drop_audio (the speaker goes with the prompt; CFG's
    unconditional row drops both). GuidanceEmb (``guidance_embed``) and StepEmb
    (``step_embed``) are ``TimestepEmbedding``s over w and over the step size d, each with its
    last layer zero at init (the model without it); w None reads as w = 0 and d None as d = 0,
    the instantaneous velocity.
    """

    def __init__(self, config: AlignedTTSConfig) -> None:
        super().__init__()
        f, dim = config.mel_dim, config.dim
        self.time_embed = TimestepEmbedding(dim)
        self.cond_embed = nn.Linear(config.cond_dim, dim) if config.cond_dim > 0 else None
        self.guidance_embed = TimestepEmbedding(dim) if config.guidance_embed else None
        self.step_embed = TimestepEmbedding(dim) if config.step_embed else None
        self.input_proj = nn.Linear(3 * f, dim)
        self.conv_pos = ConvPositionEmbedding(dim)
        self.rotary = RotaryEmbedding(config.dim_head)
        self.blocks = nn.ModuleList(
            DiTBlock(dim, config.heads, config.dim_head, config.ff_mult, config.dropout)
            for _ in range(config.depth)
        )
        self.norm_out = AdaLayerNormFinal(dim)
        self.proj_out = nn.Linear(dim, f)
        for layer in [b.attn_norm.linear for b in self.blocks] + [self.norm_out, self.proj_out]:
            layer = getattr(layer, "linear", layer)  # AdaLN-zero: v = 0 at init
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        for embed in (self.guidance_embed, self.step_embed):  # Emb(w) = Emb(d) = 0 until trained
            if embed is not None:
                nn.init.zeros_(embed.time_mlp[2].weight)
                nn.init.zeros_(embed.time_mlp[2].bias)

    def forward(
        self,
        x_t: Tensor,
        cond: Tensor,
        mu: Tensor,
        t: Tensor,
        mask: Tensor,
        drop_audio: Tensor,
        drop_text: Tensor,
        g: Tensor | None = None,
        w: Tensor | None = None,
        d: Tensor | None = None,
    ) -> Tensor:
        """x_t, cond, mu (b, n, f); t (b,); mask (b, n); drop_* (b,) bool; g (b, c); w (b,)
        guidance weights (``guidance_embed`` models only); d (b,) step sizes in [0, 1]
        (``step_embed`` models only)."""
        cond = cond.masked_fill(drop_audio[:, None, None], 0.0)
        mu = mu.masked_fill(drop_text[:, None, None], 0.0)
        c = self.time_embed(t)  # (b, d)
        if self.guidance_embed is not None:
            c = c + self.guidance_embed(torch.zeros_like(t) if w is None else w.to(t))  # (b, d)
        elif w is not None:
            raise FlowvoxError("this model takes no guidance weight w: use synthesize(cfg=w)")
        if self.step_embed is not None:
            c = c + self.step_embed(torch.zeros_like(t) if d is None else d.to(t))  # (b, d)
        elif d is not None:
            raise FlowvoxError("this model takes no step size d: it is not a shortcut model")
        if self.cond_embed is not None:
            if g is None:
                raise FlowvoxError("this model needs a (batch, cond_dim) speaker vector: pass spk")
            c = c + self.cond_embed(g.masked_fill(drop_audio[:, None], 0.0))  # (b, d)
        x = self.input_proj(torch.cat((x_t, cond, mu), dim=-1))  # (b, n, d)
        x = x + self.conv_pos(x, mask)
        rope = self.rotary(x.shape[1])
        for block in self.blocks:
            x = block(x, c, rope, mask)
        v = self.proj_out(self.norm_out(x, c))  # (b, n, f)
        return v.masked_fill(~mask[..., None], 0.0)
