"""Transformer text encoder of the Matcha-TTS / Glow-TTS kind: token ids -> per-token mel means.

    h = Emb(ids) · √d                                  embedding, N(0, d^-½) init
    h = h + W_p ConvReLUNorm(h)                         prenet (W_p starts at zero)
    h = h + W_c c                                       optional global condition c (speaker)
    per layer:  h = LN(h + Attn(h));  h = LN(h + FFN(h))  (post-norm, RoPE on all heads)
    μ = W_o h                                           (b, l, f) per-token mel means

FFN is Conv(k) → ReLU → Dropout → Conv(k) along the tokens. Every convolution sees zeros at
padding and attention hides padding keys, so a padded batch gives each item what it would
give alone. ``hidden`` (b, l, d) feeds the duration predictor (``flowvox.nn.duration``).
"""
# b: batch, l: tokens, d: channels, f: mel channels, c: condition channels

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError
from flowvox.nn.attention import Attention, Rope, RotaryEmbedding
from flowvox.nn.convnext import conv1d_channels_last


@dataclass
class TextEncoderConfig:
    """Matcha's defaults: 192 channels, 6 layers, 2 heads, FFN 768 with kernel 3."""

    vocab_size: int = 178
    out_dim: int = 80  # f: mel channels of the predicted means
    dim: int = 192
    depth: int = 6
    heads: int = 2
    ffn_dim: int = 768
    ffn_kernel: int = 3
    prenet_layers: int = 3  # 0: no prenet
    prenet_kernel: int = 5
    dropout: float = 0.1
    cond_dim: int = 0  # c: width of a global condition (speaker embedding); 0: none
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise FlowvoxError(
                f"text encoder dim {self.dim} with {self.heads} heads: dim / heads must be an "
                "even integer (RoPE rotates channel pairs)"
            )
        for name in ("ffn_kernel", "prenet_kernel"):
            if getattr(self, name) % 2 != 1:
                raise FlowvoxError(f"text encoder {name} {getattr(self, name)}: use an odd size")


@dataclass(frozen=True)
class TextEncoderOutput:
    mu: Tensor  # (b, l, f) per-token mel means, 0 at padding
    hidden: Tensor  # (b, l, d) encoder output, 0 at padding
    mask: Tensor  # (b, l) True on real tokens


@dataclass(frozen=True)
class PaddedTokens:
    ids: Tensor  # (b, l) int64
    lengths: Tensor  # (b,) int64


def intersperse(ids: Sequence[int], blank: int) -> list[int]:
    """[a, b, c] -> [blank, a, blank, b, blank, c, blank] (Glow-TTS/Matcha blank tokens)."""
    out = [blank] * (2 * len(ids) + 1)
    out[1::2] = list(ids)
    return out


def intersperse_padded(ids: Tensor, lengths: Tensor, blank: int, pad: int = 0) -> PaddedTokens:
    """``intersperse`` on a padded batch: ids (b, l), lengths (b,) -> ids (b, 2l+1), 2·L+1.

    Positions past an item's new length hold ``pad``.
    """
    b, n_tok = ids.shape
    out = torch.full((b, 2 * n_tok + 1), blank, dtype=ids.dtype, device=ids.device)
    out[:, 1::2] = ids
    new_lengths = 2 * lengths.to(ids.device) + 1  # (b,)
    beyond = torch.arange(2 * n_tok + 1, device=ids.device)[None, :] >= new_lengths[:, None]
    return PaddedTokens(ids=out.masked_fill(beyond, pad), lengths=new_lengths)


def _masked(x: Tensor, mask: Tensor) -> Tensor:
    return x.masked_fill(~mask[..., None], 0.0)


class ConvReluNorm(nn.Module):
    """Prenet: ``layers`` × (Conv(k) → LayerNorm → ReLU → Dropout), then a zero-initialised
    1×1 projection added to the input: x + W_p h. (b, l, d) -> (b, l, d)."""

    def __init__(self, dim: int, layers: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.convs = nn.ModuleList(
            nn.Conv1d(dim, dim, kernel_size, padding=pad) for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = x
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = conv1d_channels_last(_masked(h, mask), conv)  # (b, l, d)
            h = self.dropout(torch.relu(norm(h)))
        return _masked(x + self.proj(h), mask)


class ConvFeedForward(nn.Module):
    """Conv(k) d → h → ReLU → Dropout → Conv(k) h → d, zeros at padding before each conv."""

    def __init__(self, dim: int, hidden: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv_1 = nn.Conv1d(dim, hidden, kernel_size, padding=kernel_size // 2)
        self.conv_2 = nn.Conv1d(hidden, dim, kernel_size, padding=kernel_size // 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = torch.relu(conv1d_channels_last(_masked(x, mask), self.conv_1))  # (b, l, h)
        h = conv1d_channels_last(_masked(self.dropout(h), mask), self.conv_2)  # (b, l, d)
        return _masked(h, mask)


class EncoderLayer(nn.Module):
    """Post-norm transformer layer: LN(x + Attn(x)), then LN(x + FFN(x))."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.attn = Attention(cfg.dim, cfg.heads, cfg.dim // cfg.heads, dropout=cfg.dropout)
        self.norm_1 = nn.LayerNorm(cfg.dim)
        self.ffn = ConvFeedForward(cfg.dim, cfg.ffn_dim, cfg.ffn_kernel, cfg.dropout)
        self.norm_2 = nn.LayerNorm(cfg.dim)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, rope: Rope, mask: Tensor) -> Tensor:
        x = self.norm_1(x + self.dropout(self.attn(x, rope, mask)))  # (b, l, d)
        return _masked(self.norm_2(x + self.dropout(self.ffn(x, mask))), mask)


class TextEncoder(nn.Module):
    """Token ids (b, l) -> ``TextEncoderOutput`` (mu (b, l, f), hidden (b, l, d), mask)."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        nn.init.normal_(self.embed.weight, 0.0, cfg.dim**-0.5)
        self.prenet = (
            ConvReluNorm(cfg.dim, cfg.prenet_layers, cfg.prenet_kernel, cfg.dropout)
            if cfg.prenet_layers > 0
            else None
        )
        self.cond_proj = nn.Linear(cfg.cond_dim, cfg.dim) if cfg.cond_dim > 0 else None
        self.rotary = RotaryEmbedding(cfg.dim // cfg.heads, cfg.rope_base)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.depth))
        self.proj_mu = nn.Linear(cfg.dim, cfg.out_dim)

    def forward(
        self, ids: Tensor, lengths: Tensor | None = None, cond: Tensor | None = None
    ) -> TextEncoderOutput:
        """ids (b, l) int, lengths (b,) real tokens per item (None: all l), cond (b, c)."""
        b, n_tok = ids.shape
        if bool(((ids < 0) | (ids >= self.cfg.vocab_size)).any()):
            raise FlowvoxError(
                f"token ids must lie in [0, {self.cfg.vocab_size}): check the tokenizer's vocab "
                "against TextEncoderConfig.vocab_size"
            )
        if (cond is None) != (self.cond_proj is None):
            raise FlowvoxError(
                f"cond is {'missing' if cond is None else 'given'} but cond_dim is "
                f"{self.cfg.cond_dim}: pass a (batch, cond_dim) condition exactly when cond_dim > 0"
            )
        if lengths is None:
            lengths = torch.full((b,), n_tok, device=ids.device)
        elif bool(((lengths < 1) | (lengths > n_tok)).any()):
            raise FlowvoxError(f"text lengths {lengths.tolist()}: each must lie in [1, {n_tok}]")
        mask = torch.arange(n_tok, device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        x = _masked(self.embed(ids) * self.cfg.dim**0.5, mask)  # (b, l, d)
        if self.prenet is not None:
            x = self.prenet(x, mask)
        if self.cond_proj is not None:
            x = _masked(x + self.cond_proj(cond)[:, None, :], mask)
        rope = self.rotary(n_tok)
        for layer in self.layers:
            x = layer(x, rope, mask)
        mu = _masked(self.proj_mu(x), mask)  # (b, l, f)
        return TextEncoderOutput(mu=mu, hidden=x, mask=mask)
