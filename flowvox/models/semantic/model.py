"""``SemanticTokenizer``: speech -> 25 Hz semantic embeddings and tokens -> text.

The frozen half of WhisperSpeech-style text-to-semantic: a Whisper-like ASR whose encoder
output, mean-pooled to 25 Hz, is the semantic embedding (what T2S generates), and whose VQ
turns it into tokens of a 512-code book (+ a mask code). The decoder reads either the
embeddings themselves (``decode_logits(encode(mel).emb, ...)``: the unquantised teacher)
or the quantised ones (``quantize(...).quantized``, or ``dequantize(codes)``).

    mel (b, n, f) --encode--> emb (b, m, d) --quantize--> codes (b, m), quantized (b, m, d)
    codes --dequantize--> quantized;  (emb | quantized, tokens) --decode_logits--> (b, l, v)

Text is UTF-8 bytes between SOT (256) and EOT (257). A model folder is stamped "semantic"
and has no vocab file (``load_semantic``); its config.json records the training ``stage``.
"""
# b: batch, n: mel frames (100 Hz), m: semantic frames (25 Hz), f: mel bins, d: channels,
# l: text tokens, v: text vocab

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily, PretrainedModel, load_model, save_model_dir
from flowvox.models.semantic.config import EOT, SEMANTIC_FAMILY, SOT, SemanticConfig
from flowvox.models.semantic.network import (
    AudioEncoder,
    TextDecoder,
    pool_frames,
    whisper_features,
)
from flowvox.models.semantic.vq import CosineVQ, Quantized
from flowvox.nn.masks import lengths_to_mask, pad_ids


@dataclass
class TrainingOutputs:
    """What ``SemanticTokenizer.forward`` gives for one batch."""

    logits: Tensor  # (b, l, v) the decoder's, on the embeddings (asr) or quantized (vq)
    teacher_logits: Tensor | None  # (b, l, v) on the unquantised embeddings (vq), no grad
    quantized: Quantized | None  # the VQ's outputs (vq)


@dataclass
class SemanticEmbedding:
    """Semantic embeddings at 25 Hz and the positions that hold audio."""

    emb: Tensor  # (b, m, d), zero at padding
    mask: Tensor  # (b, m) True on real frames


def text_tokens(text: str) -> list[int]:
    """[SOT] + UTF-8 bytes of ``text`` + [EOT]."""
    return [SOT, *text.encode("utf-8"), EOT]


def tokens_text(ids: list[int]) -> str:
    """The bytes of ``ids`` before the first EOT (SOT dropped) as text; bad UTF-8 -> U+FFFD."""
    out = []
    for i in ids:
        if i == EOT:
            break
        if i < 256:
            out.append(i)
    return bytes(out).decode("utf-8", errors="replace")


def batch_text_tokens(texts: list[str]) -> tuple[Tensor, Tensor]:
    """Teacher-forcing pairs of ``texts``: inputs (b, l) = [SOT, bytes] padded with EOT,
    targets (b, l) = [bytes, EOT] padded with −100 (ignored by the cross-entropy)."""
    ids, lengths = pad_ids([text_tokens(t) for t in texts])  # (b, l + 1)
    inputs = ids[:, :-1].clone()
    targets = ids[:, 1:].clone()
    real = lengths_to_mask(lengths - 1, targets.shape[1])  # (b, l)
    return inputs.masked_fill(~real, EOT), targets.masked_fill(~real, -100)


class SemanticTokenizer(PretrainedModel):
    """Encoder, pooling, VQ and text decoder (see the module docstring)."""

    family: ClassVar[ModelFamily] = SEMANTIC_FAMILY

    def __init__(self, config: SemanticConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = AudioEncoder(config)
        self.vq = CosineVQ(config)
        self.decoder = TextDecoder(config)

    def train(self, mode: bool = True) -> SemanticTokenizer:
        """As ``nn.Module.train``, but a frozen encoder or decoder (no trainable parameter:
        the teacher in stage vq) stays in eval mode, so its dropout stays off."""
        super().train(mode)
        for part in (self.encoder, self.decoder):
            if not any(p.requires_grad for p in part.parameters()):
                part.eval()
        return self

    def encode(self, mel: Tensor, lengths: Tensor | None = None) -> SemanticEmbedding:
        """Natural-log mel (b, n, f) of the config's preset, lengths (b,) frames or None ->
        the pre-VQ embeddings (b, ceil(n/2/pool), d) and their mask."""
        f = self.config.n_mels
        if mel.dim() != 3 or mel.shape[-1] != f or mel.shape[1] < 1:
            raise FlowvoxError(
                f"semantic encoder input: expected a log-mel (batch, frames, {f}) of preset "
                f"{self.config.mel!r}, got {tuple(mel.shape)}"
            )
        mask = None if lengths is None else lengths_to_mask(lengths, mel.shape[1])
        states, state_mask = self.encoder(whisper_features(mel, mask), lengths)  # (b, n/2, d)
        emb, emb_mask = pool_frames(states, state_mask, self.config.pool)
        return SemanticEmbedding(emb, emb_mask)

    def forward(
        self, mel: Tensor, lengths: Tensor, tokens: Tensor, through_vq: bool
    ) -> TrainingOutputs:
        """One training pass (called through the trainer's wrapper, so DDP sees it).

        ``through_vq`` False (stage asr): logits of decode(encode(mel)). True (stage vq): the
        encoder and the teacher pass run without gradient, then logits of
        decode(quantize(emb)), the teacher's logits of decode(emb), and the VQ's outputs.
        """
        if not through_vq:
            enc = self.encode(mel, lengths)
            return TrainingOutputs(self.decode_logits(enc.emb, tokens, enc.mask), None, None)
        with torch.no_grad():
            enc = self.encode(mel, lengths)
            teacher = self.decode_logits(enc.emb, tokens, enc.mask)
        quantized = self.quantize(enc.emb, enc.mask)
        logits = self.decode_logits(quantized.quantized, tokens, quantized.mask)
        return TrainingOutputs(logits, teacher, quantized)

    def quantize(self, emb: Tensor, mask: Tensor | None = None) -> Quantized:
        """Embeddings (b, m, d) -> codes (b, m) (mask code at padding), quantized (b, m, d)."""
        return self.vq(emb, mask)

    def dequantize(self, codes: Tensor) -> SemanticEmbedding:
        """Codes (b, m) in 0 .. codebook_size (the last: mask) -> the decoder's input."""
        if codes.dim() != 2:
            raise FlowvoxError(
                f"semantic codes: expected (batch, frames), got {tuple(codes.shape)}"
            )
        emb, mask = self.vq.dequantize(codes.long())
        return SemanticEmbedding(emb, mask)

    def decode_logits(self, emb: Tensor, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """Next-token logits (b, l, v) for tokens (b, l) given embeddings (b, m, d) (pre-VQ
        or quantized) with mask (b, m) True on real frames (None: all)."""
        if mask is not None and not bool(mask.any(dim=1).all()):
            raise FlowvoxError("a row of semantic embeddings holds no real frame (all masked)")
        return self.decoder(tokens, emb, mask)

    @torch.no_grad()
    def transcribe(
        self, emb: Tensor, mask: Tensor | None = None, max_tokens: int | None = None
    ) -> list[str]:
        """Greedy decoding from SOT until EOT (or ``max_tokens`` text tokens): one text per
        row of emb (b, m, d). Each row is decoded as it would be alone."""
        if self.config.text_tokens != "byte":
            raise FlowvoxError(
                "this decoder uses Whisper's BPE ids; decode its logits with Whisper's tokenizer"
            )
        limit = self.config.max_text_tokens - 1
        steps = limit if max_tokens is None else min(max_tokens, limit)
        b = emb.shape[0]
        tokens = torch.full((b, 1), SOT, dtype=torch.long, device=emb.device)
        done = torch.zeros(b, dtype=torch.bool, device=emb.device)
        for _ in range(steps):
            logits = self.decode_logits(emb, tokens, mask)[:, -1].float()  # (b, v)
            logits[:, SOT] = -torch.inf
            step = logits.argmax(-1).masked_fill(done, EOT)  # (b,)
            tokens = torch.cat([tokens, step[:, None]], dim=1)
            done |= step == EOT
            if bool(done.all()):
                break
        return [tokens_text(row[1:]) for row in tokens.tolist()]

    def save_pretrained(  # type: ignore[override]  # byte tokens: no vocab file
        self, folder: str | os.PathLike, extra: dict | None = None
    ) -> Path:
        """Write a new model folder: model.safetensors + config.json stamped "semantic"."""
        return save_model_dir(folder, self, None, extra)

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, device: str | torch.device = "cpu"
    ) -> SemanticTokenizer:
        """The tokenizer of a "semantic" model folder, in eval mode on ``device``."""
        return load_semantic(folder, device)


def load_semantic(
    folder: str | os.PathLike, device: str | torch.device = "cpu"
) -> SemanticTokenizer:
    """The ``SemanticTokenizer`` of a folder stamped "semantic", in eval mode on ``device``
    (another family, a newer format or weights that do not fit are one-line errors)."""
    return load_model(folder, SemanticTokenizer, device)
