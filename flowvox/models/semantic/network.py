"""The audio encoder (mel -> 50 Hz states), the pooling to 25 Hz and the text decoder.

    features = whisper_features(log-mel)                    (b, n, f) at 100 Hz
    h = GELU(conv1 features); h = GELU(conv2 h)             stride 2 -> (b, n/2, d) at 50 Hz
    h = LN(blocks(h + sinusoids[:n/2]))                     ``AudioEncoder``
    e = mean over ``pool`` frames of h                      ``pool_frames`` -> 25 Hz
    logits = LN(blocks(E[tokens] + P[:l], memory)) Eᵀ       ``TextDecoder`` (tied embedding)

Names are transformers' ``WhisperEncoder`` / ``WhisperDecoder`` ones (``conv1``,
``embed_positions``, ``layers.i``, ``layer_norm``, ``embed_tokens``), so Whisper loads by
name. Padded batches are exact: padding mel frames are zeroed before each convolution (as
the zero padding of a lone clip) and hidden from attention, so a row's result does not
depend on the rows beside it.
"""
# b: batch, n: frames (mel 100 Hz, or encoder 50 Hz), m: memory frames (25 Hz), f: mel bins,
# d: channels, l: text tokens, v: text vocab, p: pool

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.layers import DecoderBlock, EncoderBlock, attention_mask, sinusoids
from flowvox.nn.masks import lengths_to_mask


def whisper_features(log_mel: Tensor, mask: Tensor | None = None) -> Tensor:
    """Whisper's input scaling of a natural-log power mel (b, n, f) (preset whisper16k):

        x = ln_mel / ln 10;  x = max(x, max_row(x) − 8);  features = (x + 4) / 4

    max_row over each row's real frames (``mask`` (b, n) True on them), so padding does not
    change a row's features."""
    x = log_mel / math.log(10.0)
    masked = x if mask is None else x.masked_fill(~mask[..., None], -torch.inf)
    top = masked.amax(dim=(1, 2), keepdim=True)  # (b, 1, 1)
    return (torch.maximum(x, top - 8.0) + 4.0) / 4.0


class AudioEncoder(nn.Module):
    """Whisper features (b, n, f) at 100 Hz -> states (b, ceil(n/2), d) at 50 Hz."""

    def __init__(self, config: SemanticConfig) -> None:
        super().__init__()
        d, eps = config.dim, config.layer_norm_eps
        self.conv1 = nn.Conv1d(config.n_mels, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.register_buffer("embed_positions", sinusoids(config.max_frames, d))  # (n_max, d)
        self.layers = nn.ModuleList(
            EncoderBlock(d, config.encoder_heads, config.encoder_ffn_dim, config.dropout, eps)
            for _ in range(config.encoder_depth)
        )
        self.layer_norm = nn.LayerNorm(d, eps=eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """features (b, n, f), lengths (b,) mel frames or None (all n real) ->
        states (b, n', d) zero at padding, mask (b, n') True on real frames, n' = ceil(n/2)."""
        b, n, _ = features.shape
        n_out = (n + 1) // 2
        if n_out > self.embed_positions.shape[0]:
            seconds = 2 * self.embed_positions.shape[0] / 100
            raise FlowvoxError(
                f"audio of {n} mel frames is longer than the semantic encoder's "
                f"{2 * self.embed_positions.shape[0]} (about {seconds:g} s); cut it shorter"
            )
        if lengths is None:
            lengths = torch.full((b,), n, device=features.device)
        mel_mask = lengths_to_mask(lengths, n)[:, None, :]  # (b, 1, n)
        x = features.transpose(1, 2).masked_fill(~mel_mask, 0.0)  # (b, f, n)
        x = F.gelu(self.conv1(x)).masked_fill(~mel_mask, 0.0)  # (b, d, n)
        x = F.gelu(self.conv2(x))  # (b, d, n')
        x = x.transpose(1, 2) + self.embed_positions[:n_out]  # (b, n', d)
        mask = lengths_to_mask((lengths + 1) // 2, n_out)  # (b, n')
        attn = None if bool(mask.all()) else attention_mask(mask, n_out, False, x.device)
        x = self.dropout(x)
        for layer in self.layers:
            x = layer(x, attn)
        return self.layer_norm(x).masked_fill(~mask[..., None], 0.0), mask


def pool_frames(x: Tensor, mask: Tensor, pool: int) -> tuple[Tensor, Tensor]:
    """Mean of each window of ``pool`` frames, over its real frames only:
    x (b, n, d), mask (b, n) -> (b, ceil(n/p), d) zero at padding, mask (b, ceil(n/p))."""
    n = x.shape[1]
    pad = -n % pool
    x = F.pad(x.masked_fill(~mask[..., None], 0.0), (0, 0, 0, pad))  # (b, n + pad, d)
    weights = F.pad(mask.to(x.dtype), (0, pad))  # (b, n + pad)
    sums = rearrange(x, "b (m p) d -> b m p d", p=pool).sum(2)  # (b, m, d)
    counts = rearrange(weights, "b (m p) -> b m p", p=pool).sum(2)  # (b, m)
    return sums / counts.clamp(min=1.0)[..., None], counts > 0


class TextDecoder(nn.Module):
    """Tokens (b, l) and memory (b, m, d) -> logits (b, l, v); causal over the tokens."""

    def __init__(self, config: SemanticConfig) -> None:
        super().__init__()
        d, eps = config.dim, config.layer_norm_eps
        self.embed_tokens = nn.Embedding(config.text_vocab_size, d)
        self.embed_positions = nn.Embedding(config.max_text_tokens, d)
        self.layers = nn.ModuleList(
            DecoderBlock(d, config.decoder_heads, config.decoder_ffn_dim, config.dropout, eps)
            for _ in range(config.decoder_depth)
        )
        self.layer_norm = nn.LayerNorm(d, eps=eps)
        self.dropout = nn.Dropout(config.dropout)
        for embedding in (self.embed_tokens, self.embed_positions):
            nn.init.normal_(embedding.weight, std=0.02)  # Whisper's init; the output is tied

    def forward(self, tokens: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> Tensor:
        """tokens (b, l) ids, memory (b, m, d), memory_mask (b, m) True on real frames or
        None -> logits (b, l, v) = LN(h) · embed_tokensᵀ."""
        l_tokens = tokens.shape[1]
        if l_tokens > self.embed_positions.num_embeddings:
            raise FlowvoxError(
                f"{l_tokens} text tokens exceed the decoder's {self.embed_positions.num_embeddings}"
                " positions; use shorter text"
            )
        x = self.embed_tokens(tokens) + self.embed_positions.weight[:l_tokens]  # (b, l, d)
        x = self.dropout(x)
        self_mask = attention_mask(None, l_tokens, True, x.device)  # (1, 1, l, l)
        cross = (
            None if memory_mask is None else attention_mask(memory_mask, l_tokens, False, x.device)
        )
        for layer in self.layers:
            x = layer(x, memory, self_mask, cross)
        return self.layer_norm(x) @ self.embed_tokens.weight.T  # (b, l, v)
