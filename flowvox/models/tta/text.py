"""Caption encoders of the latent text-to-audio model, behind one interface.

``encode(ids (b, l), mask (b, l)) -> CaptionEncoding(x (b, l', d), mask (b, l'))`` and
``empty_ids``: the ids of the empty caption "", the unconditional caption (LAFMA). Two kinds:

- ``TransformerCaptionEncoder`` (default): token embedding, a learned start token in front
  (so "" still has one position to attend to: l' = l + 1), pre-LN transformer layers with
  RoPE and key padding masks; trained with the model.
- ``T5CaptionEncoder``: a frozen ``transformers.T5EncoderModel`` read from a local folder
  (LAFMA: FLAN-T5-large); its own tokenizer appends </s>, so "" is one token; l' = l.

Padding never changes a row's encoding: attention hides padding keys.
"""
# b: batch, l: caption tokens, d: channels

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError
from flowvox.nn.attention import Attention, RotaryEmbedding
from flowvox.nn.dit_block import FeedForward
from flowvox.nn.masks import lengths_to_mask, pad_ids


@dataclass(frozen=True)
class CaptionEncoding:
    """x: (b, l', d) caption features; mask: (b, l') bool, True on real positions."""

    x: Tensor
    mask: Tensor


def caption_batch(
    encode: object, captions: Sequence[str], max_tokens: int | None = None
) -> tuple[Tensor, Tensor]:
    """Captions -> ids (b, l) int64 padded with 0 and mask (b, l) bool.

    ``encode`` is a tokenizer's ``encode`` (str -> list[int]); ids past ``max_tokens`` are cut.
    """
    if not captions:
        raise FlowvoxError("no captions given; pass one caption per sound to generate")
    rows = [list(encode(c))[:max_tokens] for c in captions]  # type: ignore[operator]
    ids, lengths = pad_ids(rows)  # (b, l), (b,)
    return ids, lengths_to_mask(lengths, ids.shape[1])


class _EncoderLayer(nn.Module):
    """x <- x + Attn(LN x); x <- x + FF(LN x), padding keys hidden."""

    def __init__(self, dim: int, heads: int, ff_mult: float = 4.0) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dim // heads)
        self.ff_norm = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, mult=ff_mult)

    def forward(self, x: Tensor, rope, mask: Tensor) -> Tensor:
        x = x + self.attn(self.attn_norm(x), rope, mask)  # (b, l, d)
        return x + self.ff(self.ff_norm(x))


class TransformerCaptionEncoder(nn.Module):
    """A small transformer over caption token ids, trained with the model (see module doc)."""

    empty_ids: tuple[int, ...] = ()

    def __init__(self, vocab_size: int, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.start = nn.Parameter(torch.randn(dim) * 0.02)  # the start token, always visible
        self.rotary = RotaryEmbedding(dim // heads)
        self.layers = nn.ModuleList(_EncoderLayer(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.vocab_size = vocab_size

    def forward(self, ids: Tensor, mask: Tensor) -> CaptionEncoding:
        """ids (b, l) int, mask (b, l) bool -> x (b, l + 1, d), mask (b, l + 1)."""
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise FlowvoxError(
                f"caption ids must lie in [0, {self.vocab_size}); encode captions with the "
                "model's tokenizer"
            )
        b = ids.shape[0]
        tokens = self.embed(ids.clamp(0, self.vocab_size - 1))  # (b, l, d)
        start = self.start.expand(b, 1, -1).to(tokens.dtype)  # (b, 1, d)
        x = torch.cat([start, tokens], dim=1)  # (b, l + 1, d)
        full = torch.cat([mask.new_ones(b, 1), mask.bool()], dim=1)  # (b, l + 1)
        x = x.masked_fill(~full[..., None], 0.0)
        rope = self.rotary(x.shape[1])
        for layer in self.layers:
            x = layer(x, rope, full)
        return CaptionEncoding(self.norm(x).masked_fill(~full[..., None], 0.0), full)

    def encode(self, ids: Tensor, mask: Tensor) -> CaptionEncoding:
        return self(ids, mask)


class T5CaptionEncoder:
    """A frozen T5 encoder (``transformers.T5EncoderModel``) and its tokenizer from ``path``.

    Kept outside the model's state dict: its weights stay in their own folder
    (``config.t5_path``). Outputs are ``last_hidden_state`` (b, l, d), zero at padding.
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        try:
            import transformers
        except ImportError as err:
            raise FlowvoxError(
                "caption_encoder 't5' needs transformers: pip install transformers sentencepiece"
            ) from err
        if not Path(path).is_dir():
            raise FlowvoxError(f"t5_path={str(path)!r} is not a folder of a T5 encoder")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(path), local_files_only=True
        )
        model = transformers.T5EncoderModel.from_pretrained(str(path), local_files_only=True)
        self.model = model.to(device).eval().requires_grad_(False)
        self.dim = int(model.config.d_model)
        self.empty_ids = tuple(self.tokenizer("").input_ids)  # (</s>,)

    def tokenize(self, captions: Sequence[str], max_tokens: int = 256) -> tuple[Tensor, Tensor]:
        """Captions -> ids (b, l), mask (b, l) bool, with T5's own tokenizer."""
        if not captions:
            raise FlowvoxError("no captions given; pass one caption per sound to generate")
        rows = [self.tokenizer(c).input_ids[:max_tokens] for c in captions]
        ids, lengths = pad_ids(rows)
        return ids, lengths_to_mask(lengths, ids.shape[1])

    @torch.no_grad()
    def encode(self, ids: Tensor, mask: Tensor) -> CaptionEncoding:
        """ids (b, l), mask (b, l) -> x (b, l, d) float32, mask (b, l)."""
        device = next(self.model.parameters()).device
        out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device).long())
        x = out.last_hidden_state.float().to(ids.device)  # (b, l, d)
        return CaptionEncoding(x.masked_fill(~mask.bool()[..., None], 0.0), mask.bool())


def drop_captions(
    ids: Tensor, mask: Tensor, drop: Tensor, empty_ids: Sequence[int]
) -> tuple[Tensor, Tensor]:
    """Rows where ``drop`` (b,) is True become the empty caption ``empty_ids``.

    ids (b, l), mask (b, l) -> the same shapes (l grows when ``empty_ids`` is longer).
    """
    k = len(empty_ids)
    if k > ids.shape[1]:
        pad = k - ids.shape[1]
        ids = torch.cat([ids, ids.new_zeros(ids.shape[0], pad)], dim=1)
        mask = torch.cat([mask, mask.new_zeros(mask.shape[0], pad)], dim=1)
    ids, mask = ids.clone(), mask.bool().clone()
    drop = drop.to(ids.device).bool()
    ids[drop] = 0
    mask[drop] = False
    if k:
        ids[drop, :k] = torch.as_tensor(list(empty_ids), dtype=ids.dtype, device=ids.device)
        mask[drop, :k] = True
    return ids, mask
