"""The ``data`` section shared by the TTS trainers: a folder written by ``flowvox prepare``.

Each task's data config extends ``PreparedDataConfig`` with its own fields (reflow pairs,
pitch statistics, ...); ``prepared_folder`` is the one check that the folder is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
