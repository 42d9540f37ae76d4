"""The ``data`` section shared by the TTS trainers: a folder written by ``flowvox prepare``.

Each task's data config extends ``PreparedDataConfig`` with its own fields (reflow pairs,
pitch statistics, ...); ``prepared_folder`` is the one check that the folder is there;
``read_split`` reads one split, keeping the utterances an alignment search can align.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flowvox.audio.mel import MelConfig
from flowvox.data.dataset import MelDataset
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError


@dataclass
class PreparedDataConfig:
    """Where the utterances come from, and which of them train."""

    prepared: str | None = None  # the prepared folder (required)
    split: str = "train"  # <split>.jsonl of that folder
    vocab: str | None = None  # vocab file; None: <prepared>/vocab.txt (tokenizer "char")
    min_item_frames: int = 16  # shorter utterances are left out
    max_item_frames: int | None = None  # longer ones too (None: keep all)
    media_index: int = 0  # the media utterance: this item of the media split


def prepared_folder(data: PreparedDataConfig) -> Path:
    """``data.prepared`` as a path; a one-line error when it is unset or not a folder."""
    if not data.prepared or not Path(data.prepared).is_dir():
        raise FlowvoxError(
            f"data.prepared={data.prepared!r} is not a folder; run `flowvox prepare CORPUS "
            "prepared/` and pass --set data.prepared=prepared/"
        )
    return Path(data.prepared)


def read_split(
    prepared: Path,
    split: str,
    mel_config: MelConfig,
    encode: Callable[[str], list[int]] | None = None,
    add_blank: bool = False,
    min_frames: int = 0,
    max_frames: int | None = None,
) -> MelDataset:
    """The utterances of ``prepared/<split>.jsonl``; with ``encode``, only those of
    ``min_frames`` .. ``max_frames`` frames whose encoded text (2l + 1 tokens with
    ``add_blank``, else l) MAS can align: 0 < l and tokens <= frames."""
    manifest = prepared / f"{split}.jsonl"
    if not manifest.is_file():
        raise FlowvoxError(f"{prepared}: no {split}.jsonl; set data.split to a split it has")
    entries = read_manifest(manifest)
    if encode is not None:
        probe = MelDataset(entries, mel_config, cache_dir=prepared)
        longest = max_frames or float("inf")

        def alignable(text: str, frames: int) -> bool:
            tokens = len(encode(text))
            return 0 < tokens and (2 * tokens + 1 if add_blank else tokens) <= frames

        entries = [
            e
            for e, n in zip(entries, probe.lengths, strict=True)
            if min_frames <= n <= longest and alignable(e.text, n)
        ]
        if not entries:
            raise FlowvoxError(
                f"{manifest}: no utterance has {min_frames} .. {longest} frames "
                "and a text with at most one encoder token per frame; widen "
                "data.min_item_frames / data.max_item_frames"
            )
    return MelDataset(entries, mel_config, cache_dir=prepared)
