"""Training items of S2A: (mel of the S2A's preset, semantic codes of the same audio).

Mels come from a ``flowvox prepare`` folder made with the S2A's mel preset (``data.prepared``).
Codes come from the frozen tokenizer (``data.tokenizer``), which reads its own mel
(whisper16k) of each utterance's audio, computed from the audio file the prepared manifest
names; they are encoded once when the run starts, or read from ``data.token_cache`` (the
autoregressive T2S's cache format and checks: ``ar_data.corpus_codes``). The collate
repeats each utterance's codes to its mel frames (``S2AConfig.token_index``) and pads them
with the mask code.
"""
# b: batch, n: mel frames, f: mel bins

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from flowvox.audio.mel import MelConfig
from flowvox.data.dataset import MelDataset
from flowvox.models.semantic.s2a_config import S2AConfig
from flowvox.models.semantic.s2a_model import upsample_codes

MEL_KEYS = ("mel", "mel_frames")  # manifest extras of the prepared (S2A) mel


@dataclass
class S2ADataConfig:
    """The frozen tokenizer, the prepared folder of the S2A's mel preset, and which items
    train (``min_item_frames`` .. ``max_item_frames`` mel frames)."""

    tokenizer: str | None = None  # required: a semantic tokenizer model folder (stage vq)
    prepared: str | None = None  # required: `flowvox prepare --mel-preset <model.mel>` folder
    split: str = "train"
    token_cache: str | None = None  # a .safetensors file: codes encoded once (None: each run)
    encode_frames: int = 16000  # tokenizer mel frames per batch while encoding
    min_item_frames: int = 16
    max_item_frames: int | None = None  # None: the model's max_frames
    media_index: int = 0


@dataclass
class S2AItem:
    """One utterance: its log-mel (n, f) and the codes of its audio."""

    mel: Tensor
    codes: list[int]


@dataclass
class S2ABatch:
    """Mels (b, n, f) padded with zeros, lengths (b,), codes per frame (b, n) padded with
    the mask code."""

    mel: Tensor
    lengths: Tensor
    frame_codes: Tensor

    def to(self, device: torch.device | str) -> S2ABatch:
        return S2ABatch(self.mel.to(device), self.lengths.to(device), self.frame_codes.to(device))


class S2ADataset(torch.utils.data.Dataset):
    """Items ``indices`` of a prepared ``MelDataset`` with their ``codes``."""

    def __init__(self, mels: MelDataset, indices: Sequence[int], codes: Sequence[list[int]]):
        self.mels, self.indices, self.codes = mels, list(indices), list(codes)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> S2AItem:
        return S2AItem(self.mels.load_mel(self.indices[index]), self.codes[index])


class S2ACollate:
    """Items -> ``S2ABatch`` for a model of ``config`` (a class: DataLoader workers pickle it)."""

    def __init__(self, config: S2AConfig) -> None:
        self.config = config

    def __call__(self, items: Sequence[S2AItem]) -> S2ABatch:
        lengths = torch.tensor([item.mel.shape[0] for item in items])
        b, n = len(items), int(lengths.max())
        mel = torch.zeros(b, n, items[0].mel.shape[1])
        codes = torch.full((b, n), self.config.mask_code, dtype=torch.long)
        for row, item in enumerate(items):
            frames = item.mel.shape[0]
            mel[row, :frames] = item.mel
            codes[row, :frames] = upsample_codes(self.config, item.codes, frames)
        return S2ABatch(mel, lengths, codes)


def tokenizer_view(mels: MelDataset, tokenizer_mel: MelConfig) -> MelDataset:
    """The same utterances as ``mels``, their mels computed from the audio with the
    tokenizer's mel config (the prepared folder's mel extras dropped)."""
    entries = [
        replace(e, extra={k: v for k, v in e.extra.items() if k not in MEL_KEYS})
        for e in mels.entries
    ]
    return MelDataset(entries, tokenizer_mel)
