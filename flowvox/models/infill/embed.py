"""Text and input embeddings of the infilling TTS models (F5-TTS layout), and the text cache.

Text ids are the tokenizer's ids (0 .. V-1) padded with -1. Inside, every id is shifted by +1
so that 0 becomes the filler token, and the sequence is cut or padded with fillers to the
mel length n: text and mel frames then line up position by position, and the model learns
the alignment itself.
"""
# b: batch, n: mel frames, l: text tokens, f: mel bins, c: text channels, d: model channels,
# k: speaker d-vector channels

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.errors import FlowvoxError
from flowvox.nn.convnext_v2 import ConvNeXtV2Block
from flowvox.nn.embeddings import ConvPositionEmbedding, position_sinusoid

Flags = bool | Tensor  # one flag for the batch, or (b,) bool, one per sample


def flags_for(flags: Flags, batch: int, device: torch.device) -> Tensor | None:
    """(b,) bool tensor for per-sample flags; None when every flag is False (nothing to do)."""
    if isinstance(flags, Tensor):
        if flags.shape != (batch,):
            raise FlowvoxError(
                f"drop flags have shape {tuple(flags.shape)}; pass a bool or a ({batch},) tensor"
            )
        return flags.to(device=device, dtype=torch.bool)
    return torch.ones(batch, dtype=torch.bool, device=device) if flags else None


@dataclass(frozen=True)
class TextCache:
    """Encoded text, computed once per generation and reused at every ODE step.

    embed: (b, n, c) text features aligned with the n mel frames.
    drop_text: (b,) bool, the rows encoded with the text dropped (unconditional).
    """

    embed: Tensor
    drop_text: Tensor

    @staticmethod
    def cat(caches: list[TextCache]) -> TextCache:
        """Caches stacked along the batch axis (e.g. conditional rows, then unconditional)."""
        return TextCache(
            embed=torch.cat([c.embed for c in caches]),
            drop_text=torch.cat([c.drop_text for c in caches]),
        )


class TextEmbedding(nn.Module):
    """Token embedding (+ sinusoidal positions and ConvNeXt-V2 blocks when ``conv_layers``).

    Steps for ids (b, l) and mel length n:
      1. ids + 1 (so -1 padding becomes the filler 0), cut or filler-padded to n;
      2. drop_text rows: every id becomes the filler (the filler mask of step 1 is kept);
      3. embedding (V + 1 rows) + position table cat(cos, sin) (only with conv blocks);
      4. ConvNeXt-V2 blocks; with ``mask_fillers`` (v1) the filler positions are zeroed
         before the first block and after every block.
    With ``mask`` (b, n), frames past each item's length are batch padding (as in F5-TTS
    1.1.22): their ids become fillers and their features start at exactly zero. With
    ``hide_padding`` they are also zeroed after every block and GRN ignores them, so an
    item's features do not depend on how much padding its batch has.
    """

    def __init__(
        self, vocab_size: int, dim: int, conv_layers: int = 0, mask_fillers: bool = True
    ) -> None:
        super().__init__()
        self.text_embed = nn.Embedding(vocab_size + 1, dim)  # row 0: the filler
        self.mask_fillers = mask_fillers
        self.text_blocks = nn.ModuleList(
            [ConvNeXtV2Block(dim, dim * 2) for _ in range(conv_layers)]
        )

    def forward(
        self,
        text_ids: Tensor,
        n: int,
        drop_text: Tensor | None = None,
        mask: Tensor | None = None,
        hide_padding: bool = True,
    ) -> Tensor:
        """text_ids (b, l) int, padded with -1 -> (b, n, c).

        drop_text: (b,) bool rows to encode without text, or None. mask: (b, n) True on real
        frames, or None when no row is padded.
        """
        ids = text_ids[:, :n] + 1  # (b, min(l, n)), filler = 0
        ids = F.pad(ids, (0, n - ids.shape[1]), value=0)  # (b, n)
        padding = None if mask is None else ~mask[..., None]  # (b, n, 1) True at padding
        if mask is not None:
            ids = ids.masked_fill(~mask, 0)  # text past an item's own length is dropped
        fillers = ids == 0  # (b, n), taken before the text is dropped (as F5 does)
        if drop_text is not None:
            ids = ids.masked_fill(drop_text[:, None], 0)
        h = self.text_embed(ids)  # (b, n, c)
        if len(self.text_blocks) > 0:
            h = h + position_sinusoid(n, h.shape[-1], device=h.device).to(h.dtype)  # (b, n, c)
        if padding is not None:
            h = h.masked_fill(padding, 0.0)
        if len(self.text_blocks) == 0:
            return h
        zero_at = fillers[..., None] if self.mask_fillers else None  # (b, n, 1)
        if zero_at is None and hide_padding:
            zero_at = padding
        grn_mask = mask if hide_padding else None
        if zero_at is not None:
            h = h.masked_fill(zero_at, 0.0)
        for block in self.text_blocks:
            h = block(h, grn_mask)
            if zero_at is not None:
                h = h.masked_fill(zero_at, 0.0)
        return h


class InputEmbedding(nn.Module):
    """x = W · cat(x_t, cond, text) + b;  x ← x + ConvPositionEmbedding(x).

    x_t (b, n, f) the noisy mel, cond (b, n, f) the mel prompt (zeros where to infill),
    text (b, n, c) the text features -> (b, n, d). Dropped-audio rows use cond = 0.
    """

    def __init__(self, mel_dim: int, text_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(mel_dim * 2 + text_dim, dim)
        self.conv_pos_embed = ConvPositionEmbedding(dim)

    def forward(
        self,
        x_t: Tensor,
        cond: Tensor,
        text: Tensor,
        drop_audio_cond: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        if drop_audio_cond is not None:
            cond = cond.masked_fill(drop_audio_cond[:, None, None], 0.0)
        x = self.proj(torch.cat((x_t, cond, text), dim=-1))  # (b, n, d)
        return x + self.conv_pos_embed(x, mask)


class SpeakerEmbedding(nn.Module):
    """W g + b: a speaker d-vector g (b, k) -> (b, d), added to the time embedding; g = 0 on
    the rows whose audio prompt is dropped (``InfillTTSConfig.cond_dim``)."""

    def __init__(self, cond_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, dim)

    def forward(self, g: Tensor, drop_audio_cond: Tensor | None = None) -> Tensor:
        if drop_audio_cond is not None:
            g = g.masked_fill(drop_audio_cond[:, None], 0.0)
        return self.proj(g)  # (b, d)
