"""``ARTextToSemantic``: WhisperSpeech's autoregressive T2S, UTF-8 bytes -> semantic ids.

    memory = LN(enc_blocks(B[bytes] + sinusoids))                         (b, l, d)
    x = E[ids] + P[:n] + C[bin(cps)]                                      (b, n, d)
    logits = LN(dec_blocks(x, memory)) Eᵀ                                 (b, n, v)
    bin(cps) = min(⌊cps / cps_max · cps_bins⌋, cps_bins − 1)              as WhisperSpeech

Training reads ids = [BOS, c_1 .. c_n] and predicts [c_1 .. c_n, EOS] (``forward``, the
blocks' own code: causal self-attention over all positions at once). Generation runs the
same weights one position at a time over a key/value cache (``start_cache``,
``decode_step``): each step projects only the new position and attends to the cached
keys, so a step costs O(t) and not O(t²); cross-attention keys are projected once.
The blocks are the semantic tokenizer's (``layers.py``), so the layout is Whisper's. A
model folder is stamped "t2s_ar" and holds the tokenizer it writes for as ``tokenizer/``.
"""
# b: batch, l: text bytes, n: decoder positions, t: cached positions, d: channels,
# h: heads, e: channels per head, v: decoder vocab (K + 3)

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily, PretrainedModel, load_model
from flowvox.models.semantic.ar_config import AR_FAMILY, BYTE_PAD, ARConfig
from flowvox.models.semantic.layers import (
    DecoderBlock,
    EncoderBlock,
    WhisperAttention,
    attention_mask,
    sinusoids,
)
from flowvox.models.semantic.t2s_folder import save_t2s_folder
from flowvox.nn.masks import lengths_to_mask


def text_bytes(texts: list[str], max_bytes: int) -> tuple[Tensor, Tensor]:
    """UTF-8 bytes of each text (stripped) -> ids (b, l) padded with ``BYTE_PAD`` and mask
    (b, l) True on real bytes. Empty text, or more than ``max_bytes`` bytes, is an error."""
    if not texts:
        raise FlowvoxError("no text given; pass one or more lines of text")
    encoded = []
    for i, text in enumerate(texts):
        data = text.strip().encode("utf-8")
        if not data:
            raise FlowvoxError(f"text {i} is empty; give every line some text")
        if len(data) > max_bytes:
            raise FlowvoxError(
                f"text {i} has {len(data)} UTF-8 bytes, more than the model's {max_bytes}; "
                "split it into shorter sentences"
            )
        encoded.append(torch.tensor(list(data), dtype=torch.long))
    lengths = torch.tensor([len(x) for x in encoded])
    ids = torch.full((len(texts), int(lengths.max())), BYTE_PAD, dtype=torch.long)
    for row, x in enumerate(encoded):
        ids[row, : len(x)] = x
    return ids, lengths_to_mask(lengths, ids.shape[1])


def text_cps(text: str, seconds: float) -> float:
    """Characters per second of ``text`` (stripped, counted as characters, as WhisperSpeech)."""
    return len(text.strip()) / seconds


@dataclass
class DecoderCache:
    """Keys and values of every decoder layer for a batch being generated.

    Self-attention slots are allocated for ``capacity`` positions and filled as decoding
    advances (``length`` filled so far); cross-attention keys/values of the encoder memory
    are projected once."""

    self_k: list[Tensor]  # per layer (b, h, capacity, e)
    self_v: list[Tensor]
    cross_k: list[Tensor]  # per layer (b, h, l, e)
    cross_v: list[Tensor]
    cross_mask: Tensor | None  # (b, 1, 1, l) True on real bytes; None: all real
    cps: Tensor  # (b,) the condition
    capacity: int  # self-attention slots
    length: int = 0


def split_heads(x: Tensor, heads: int) -> Tensor:
    return rearrange(x, "b n (h e) -> b h n e", h=heads)


class TextEncoder(nn.Module):
    """Bytes (b, l) with mask (b, l) -> memory (b, l, d)."""

    def __init__(self, config: ARConfig) -> None:
        super().__init__()
        d, eps = config.dim, config.layer_norm_eps
        self.embed_tokens = nn.Embedding(BYTE_PAD + 1, d)
        self.register_buffer(
            "embed_positions", sinusoids(config.max_text_bytes, d), persistent=False
        )  # (l_max, d)
        self.layers = nn.ModuleList(
            EncoderBlock(d, config.heads, config.ffn_dim, config.dropout, eps)
            for _ in range(config.encoder_depth)
        )
        self.layer_norm = nn.LayerNorm(d, eps=eps)
        self.dropout = nn.Dropout(config.dropout)
        nn.init.normal_(self.embed_tokens.weight, std=0.02)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        l_text = ids.shape[1]
        x = self.dropout(self.embed_tokens(ids) + self.embed_positions[:l_text])  # (b, l, d)
        attn = None if bool(mask.all()) else attention_mask(mask, l_text, False, x.device)
        for layer in self.layers:
            x = layer(x, attn)
        return self.layer_norm(x)


class ARTextToSemantic(PretrainedModel):
    """Text bytes -> semantic token ids (see the module docstring)."""

    family: ClassVar[ModelFamily] = AR_FAMILY

    def __init__(self, config: ARConfig) -> None:
        super().__init__()
        self.config = config
        d, eps = config.dim, config.layer_norm_eps
        self.encoder = TextEncoder(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, d)
        self.embed_positions = nn.Embedding(config.max_tokens, d)
        self.embed_cps = nn.Embedding(config.cps_bins, d)
        self.layers = nn.ModuleList(
            DecoderBlock(d, config.heads, config.ffn_dim, config.dropout, eps)
            for _ in range(config.decoder_depth)
        )
        self.layer_norm = nn.LayerNorm(d, eps=eps)
        self.dropout = nn.Dropout(config.dropout)
        for embedding in (self.embed_tokens, self.embed_positions, self.embed_cps):
            nn.init.normal_(embedding.weight, std=0.02)

    def cps_bin(self, cps: Tensor) -> Tensor:
        """cps (b,) float -> bins (b,) int64 in 0 .. cps_bins − 1."""
        c = self.config
        return (cps.float() / c.cps_max * c.cps_bins).long().clamp(0, c.cps_bins - 1)

    def encode(self, text_ids: Tensor, text_mask: Tensor) -> Tensor:
        """Bytes (b, l), mask (b, l) -> memory (b, l, d)."""
        return self.encoder(text_ids, text_mask)

    def _inputs(self, ids: Tensor, start: int, cps: Tensor) -> Tensor:
        """E[ids] + P[start : start + n] + C[bin(cps)] (b, n, d)."""
        n = ids.shape[1]
        if start + n > self.config.max_tokens:
            raise FlowvoxError(
                f"{start + n} decoder positions exceed the model's {self.config.max_tokens}; "
                "use shorter text or a lower length margin"
            )
        pos = self.embed_positions.weight[start : start + n]  # (n, d)
        return self.embed_tokens(ids) + pos + self.embed_cps(self.cps_bin(cps))[:, None]

    def forward(self, text_ids: Tensor, text_mask: Tensor, ids: Tensor, cps: Tensor) -> Tensor:
        """Teacher forcing: bytes (b, l), mask (b, l), decoder inputs (b, n) = [BOS, codes],
        cps (b,) -> next-id logits (b, n, v); position i sees inputs 0 .. i only."""
        memory = self.encode(text_ids, text_mask)  # (b, l, d)
        x = self.dropout(self._inputs(ids, 0, cps))  # (b, n, d)
        n = ids.shape[1]
        self_mask = attention_mask(None, n, True, x.device)  # (1, 1, n, n)
        cross = None if bool(text_mask.all()) else attention_mask(text_mask, n, False, x.device)
        for layer in self.layers:
            x = layer(x, memory, self_mask, cross)
        return self.layer_norm(x) @ self.embed_tokens.weight.T  # (b, n, v)

    # ------------------------------------------------------------------ cached decoding
    def start_cache(
        self, text_ids: Tensor, text_mask: Tensor, cps: Tensor, capacity: int
    ) -> DecoderCache:
        """Encode the text and project each layer's cross-attention keys/values once; room
        for ``capacity`` decoder positions (≤ ``max_tokens``)."""
        if capacity > self.config.max_tokens:
            raise FlowvoxError(
                f"{capacity} decoder positions exceed the model's {self.config.max_tokens}"
            )
        memory = self.encode(text_ids, text_mask)  # (b, l, d)
        b, h, e = memory.shape[0], self.config.heads, self.config.dim // self.config.heads
        cross_k, cross_v, self_k, self_v = [], [], [], []
        for layer in self.layers:
            attn = layer.encoder_attn
            cross_k.append(split_heads(attn.k_proj(memory), h))  # (b, h, l, e)
            cross_v.append(split_heads(attn.v_proj(memory), h))
            self_k.append(memory.new_zeros(b, h, capacity, e))
            self_v.append(memory.new_zeros(b, h, capacity, e))
        cross_mask = None if bool(text_mask.all()) else text_mask[:, None, None, :]
        return DecoderCache(self_k, self_v, cross_k, cross_v, cross_mask, cps, capacity)

    def decode_step(self, ids: Tensor, cache: DecoderCache) -> Tensor:
        """The next ``n`` inputs (b, n) after ``cache.length`` cached ones -> their logits
        (b, n, v); the cache grows by n. Inference only (no dropout)."""
        start, n = cache.length, ids.shape[1]
        if start + n > cache.capacity:
            raise FlowvoxError(
                f"the decoder cache holds {cache.capacity} positions, not {start + n}"
            )
        x = self._inputs(ids, start, cache.cps)  # (b, n, d)
        end = start + n
        # query i (position start + i) sees keys 0 .. start + i
        causal = None
        if n > 1:
            causal = torch.ones(n, end, dtype=torch.bool, device=x.device).tril(start)
        for i, layer in enumerate(self.layers):
            attn: WhisperAttention = layer.self_attn
            h = layer.self_attn_layer_norm(x)
            cache.self_k[i][:, :, start:end] = split_heads(attn.k_proj(h), attn.heads)
            cache.self_v[i][:, :, start:end] = split_heads(attn.v_proj(h), attn.heads)
            x = x + self._attend(
                attn, h, cache.self_k[i][:, :, :end], cache.self_v[i][:, :, :end], causal
            )
            cross: WhisperAttention = layer.encoder_attn
            h = layer.encoder_attn_layer_norm(x)
            x = x + self._attend(cross, h, cache.cross_k[i], cache.cross_v[i], cache.cross_mask)
            x = x + layer.mlp(x)
        cache.length = end
        return self.layer_norm(x) @ self.embed_tokens.weight.T  # (b, n, v)

    @staticmethod
    def _attend(
        attn: WhisperAttention, h: Tensor, k: Tensor, v: Tensor, mask: Tensor | None
    ) -> Tensor:
        """out_proj(softmax(q kᵀ / √e) v) with q = q_proj(h) (b, n, d); k, v (b, h, t, e)."""
        q = split_heads(attn.q_proj(h), attn.heads)  # (b, h, n, e)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (b, h, n, e)
        return attn.out_proj(rearrange(out, "b h n e -> b n (h e)"))

    # ------------------------------------------------------------------ files
    def save_pretrained(  # type: ignore[override]  # byte text: no vocab; a tokenizer folder
        self,
        folder: str | os.PathLike,
        tokenizer: str | os.PathLike | None = None,
        extra: dict | None = None,
    ) -> Path:
        """Write a new model folder stamped "t2s_ar" (atomically), with a copy of the
        ``tokenizer`` model folder inside it as ``tokenizer/`` when given."""
        return save_t2s_folder(self, folder, tokenizer, extra)

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, device: str | torch.device = "cpu"
    ) -> ARTextToSemantic:
        """The model of a "t2s_ar" folder, in eval mode on ``device``."""
        return load_ar(folder, device)


def load_ar(folder: str | os.PathLike, device: str | torch.device = "cpu") -> ARTextToSemantic:
    """The ``ARTextToSemantic`` of a folder stamped "t2s_ar", in eval mode on ``device``
    (another family, a newer format or weights that do not fit are one-line errors)."""
    return load_model(folder, ARTextToSemantic, device)
