"""Training items and batches of T2S-FM: (text, mel) utterances, or texts alone.

Modes supervised and both read utterances (``MelDataset``: a ``flowvox prepare`` folder of
the tokenizer's mel preset, or a JSONL manifest); mode text_only reads TEXT ONLY: the
``text`` of a manifest's lines (never its audio) or a UTF-8 file of one sentence a line.
Lengths count semantic frames (25 Hz): ``token_frames`` of the mel frames, or the words-
per-second rule for texts alone.
"""
# b: batch, n: mel frames, f: mel bins, l: text bytes, m: decoder text tokens

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from flowvox.data.dataset import MelDataset, Utterance
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.models.semantic.model import batch_text_tokens
from flowvox.models.semantic.t2s_fm_model import text_bytes


@dataclass
class T2SDataConfig:
    """``tokenizer``: the frozen semantic tokenizer's model folder (stage vq). Utterances
    from ``prepared`` or ``manifest``; text_only may instead read ``texts`` (one sentence a
    line). Item frames count semantic frames (25 Hz)."""

    tokenizer: str | None = None
    prepared: str | None = None
    manifest: str | None = None
    texts: str | None = None  # text_only: a UTF-8 file, one sentence a line
    split: str = "train"
    min_item_frames: int = 4
    max_item_frames: int | None = None  # None: the model's max_frames
    stats_items: int = 256  # utterances that measure the embeddings' mean and std
    media_index: int = 0


@dataclass
class T2SBatch:
    """Byte ids (b, l) + lengths (b,) of the T2S's text; the decoder's teacher-forcing
    inputs / targets (b, m); semantic frames (b,); mels (b, n, f) + lengths (b,) or None."""

    text_ids: Tensor
    text_lengths: Tensor
    dec_inputs: Tensor
    dec_targets: Tensor
    frames: Tensor
    mel: Tensor | None
    mel_lengths: Tensor | None
    texts: list[str]

    def to(self, device: torch.device | str) -> T2SBatch:
        def move(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.to(device)

        return T2SBatch(
            self.text_ids.to(device), self.text_lengths.to(device), self.dec_inputs.to(device),
            self.dec_targets.to(device), self.frames.to(device), move(self.mel),
            move(self.mel_lengths), self.texts,
        )  # fmt: skip


@dataclass(frozen=True)
class TextItem:
    """A text-only training item and its semantic frames by the length rule."""

    text: str
    frames: int


class T2SCollate:
    """Items (``Utterance`` or ``TextItem``) -> ``T2SBatch``; ``token_frames`` maps mel
    frames to semantic frames."""

    def __init__(self, max_text_bytes: int, token_frames) -> None:
        self.max_text_bytes, self.token_frames = max_text_bytes, token_frames

    def __call__(self, items: Sequence[Utterance | TextItem]) -> T2SBatch:
        texts = [item.text for item in items]
        ids, lengths = text_bytes(texts, self.max_text_bytes)
        inputs, targets = batch_text_tokens(texts)
        if isinstance(items[0], TextItem):
            frames = torch.tensor([item.frames for item in items])
            return T2SBatch(ids, lengths, inputs, targets, frames, None, None, texts)
        mel_lengths = torch.tensor([item.mel.shape[0] for item in items])
        mel = torch.zeros(len(items), int(mel_lengths.max()), items[0].mel.shape[1])
        for row, item in enumerate(items):
            mel[row, : item.mel.shape[0]] = item.mel
        frames = torch.tensor([self.token_frames(int(n)) for n in mel_lengths])
        return T2SBatch(ids, lengths, inputs, targets, frames, mel, mel_lengths, texts)


def read_text_lines(path: str | os.PathLike, what: str = "data.texts") -> list[tuple[int, str]]:
    """(line number, stripped text) of each non-blank line of a UTF-8 file."""
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{what} {path}: no such file; give a text file, one sentence a line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise FlowvoxError(f"{what} {path}: not UTF-8 text ({err.reason})") from err
    found = [(i, line.strip()) for i, line in enumerate(lines, 1) if line.strip()]
    if not found:
        raise FlowvoxError(f"{what} {path}: holds no text; write one sentence a line")
    return found


def _manifest(data: T2SDataConfig) -> Path:
    if data.prepared is not None:
        path = Path(data.prepared) / f"{data.split}.jsonl"
        if not Path(data.prepared).is_dir() or not path.is_file():
            raise FlowvoxError(
                f"data.prepared={data.prepared!r}: no {data.split}.jsonl there; run `flowvox "
                "prepare CORPUS prepared-w16/ --mel-preset whisper16k` and pass that folder"
            )
        return path
    if not Path(data.manifest).is_file():
        raise FlowvoxError(f"data.manifest={data.manifest!r}: no such file")
    return Path(data.manifest)


def check_sources(data: T2SDataConfig, text_only: bool) -> None:
    """Exactly one source: prepared or manifest (any mode), or texts (text_only)."""
    given = [k for k in ("prepared", "manifest", "texts") if getattr(data, k) is not None]
    if text_only and len(given) != 1:
        raise FlowvoxError(
            "data: mode text_only reads one of data.texts (a text file), data.manifest or "
            f"data.prepared (their texts only); got {', '.join(given) or 'none'}"
        )
    if not text_only and given not in (["prepared"], ["manifest"]):
        raise FlowvoxError(
            "data: modes supervised and both need audio: set one of data.prepared (a `flowvox "
            "prepare --mel-preset whisper16k` folder) and data.manifest"
            + ("; data.texts is for mode text_only" if data.texts else "")
        )


def read_texts(data: T2SDataConfig) -> list[str]:
    """The training texts of mode text_only (manifest lines' ``text`` of ``split``, or the
    lines of ``texts``); no audio file is opened."""
    if data.texts is not None:
        return [text for _, text in read_text_lines(data.texts)]
    entries = read_manifest(_manifest(data))
    if data.manifest is not None:
        entries = [e for e in entries if e.split == data.split]
    texts = [e.text.strip() for e in entries if e.text.strip()]
    if not texts:
        raise FlowvoxError(f"data: no text of split {data.split!r} to train on")
    return texts


def read_utterances(data: T2SDataConfig, mel_config) -> MelDataset:
    """The (mel, text) utterances of modes supervised and both (``split`` of the manifest)."""
    path = _manifest(data)
    if data.prepared is not None:
        return MelDataset(read_manifest(path), mel_config, cache_dir=data.prepared)
    entries = [e for e in read_manifest(path) if e.split == data.split]
    if not entries:
        raise FlowvoxError(f"{path}: no entry of split {data.split!r}")
    return MelDataset(entries, mel_config)
