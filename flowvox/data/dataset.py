"""A torch Dataset of (log-mel, text) utterances and the collate function that pads them.

Axis letters: b batch, n frames, f mel bins, s samples.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import torch
from torch.utils.data import Dataset

from flowvox.audio.io import load_audio
from flowvox.audio.mel import MelConfig, MelSpectrogram
from flowvox.data.cache import check_cache_config, load_cache_config, mel_cache_name, read_mel
from flowvox.data.manifest import ManifestEntry, read_manifest
from flowvox.errors import FlowvoxError


@dataclass
class Utterance:
    """One item of ``MelDataset``."""

    mel: torch.Tensor  # (n, f) float32 log-mel
    text: str
    speaker: str
    language: str
    audio_path: str
    index: int  # position in the dataset


@dataclass
class Batch:
    """Utterances padded to the longest; ``mask`` is True on real frames."""

    mel: torch.Tensor  # (b, n, f), padded with pad_value
    mel_lengths: torch.Tensor  # (b,) int64
    mask: torch.Tensor  # (b, n) bool
    texts: list[str]
    speakers: list[str]
    languages: list[str]
    audio_paths: list[str]
    indices: torch.Tensor  # (b,) int64 dataset positions

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with its tensors on ``device``."""
        return Batch(
            mel=self.mel.to(device),
            mel_lengths=self.mel_lengths.to(device),
            mask=self.mask.to(device),
            texts=self.texts,
            speakers=self.speakers,
            languages=self.languages,
            audio_paths=self.audio_paths,
            indices=self.indices.to(device),
        )


class MelDataset(Dataset):
    """Utterances with log-mels, computed on the fly or read from a prepared cache.

    On the fly: ``load_audio`` resampled to ``mel_config.sample_rate`` -> ``MelSpectrogram``
    -> transposed to (n, f). With ``cache_dir`` (a folder written by ``prepare_dataset``) the
    mel is read from ``cache_dir / entry.extra["mel"]``, or, for entries without that key,
    from the cache file named after the audio path; the cache's stored mel config must equal
    ``mel_config`` (``FlowvoxError`` naming both presets otherwise).
    """

    def __init__(
        self,
        entries: Sequence[ManifestEntry],
        mel_config: MelConfig,
        cache_dir: str | os.PathLike | None = None,
    ):
        if not entries:
            raise FlowvoxError("MelDataset: no entries given; pass a non-empty manifest")
        self.entries = list(entries)
        self.mel_config = mel_config
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        if self.cache_dir is not None:
            check_cache_config(self.cache_dir, mel_config)
            self.mel_fn = None
        else:
            self.mel_fn = MelSpectrogram(mel_config)

    @classmethod
    def from_prepared(
        cls, folder: str | os.PathLike, split: str = "train", mel_config: MelConfig | None = None
    ) -> MelDataset:
        """The ``<split>.jsonl`` of a prepared folder, read from its cache.

        ``mel_config`` defaults to the folder's stored one; when given, it must match it.
        """
        folder = Path(folder)
        config = mel_config or load_cache_config(folder)
        manifest = folder / f"{split}.jsonl"
        if not manifest.is_file():
            raise FlowvoxError(f"{folder}: no {split}.jsonl; choose a split this folder has")
        return cls(read_manifest(manifest), config, cache_dir=folder)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Utterance:
        entry = self.entries[index]
        return Utterance(
            mel=self.load_mel(index),
            text=entry.text,
            speaker=entry.speaker,
            language=entry.language,
            audio_path=entry.audio,
            index=index,
        )

    def load_mel(self, index: int) -> torch.Tensor:
        """The (n, f) log-mel of item ``index``."""
        entry = self.entries[index]
        if self.cache_dir is not None:
            return read_mel(self.cache_file(index), self.mel_config.n_mels)
        clip = load_audio(entry.audio, self.mel_config.sample_rate)
        with torch.no_grad():
            mel = self.mel_fn(torch.from_numpy(clip.wav))  # (f, n)
        return mel.T.contiguous()  # (n, f)

    def cache_file(self, index: int) -> Path:
        """Where item ``index``'s mel is cached (needs ``cache_dir``)."""
        if self.cache_dir is None:
            raise FlowvoxError(
                "MelDataset.cache_file: this dataset computes mels on the fly (no cache_dir); "
                "build it with cache_dir=PREPARED_FOLDER or MelDataset.from_prepared"
            )
        entry = self.entries[index]
        return self.cache_dir / entry.extra.get("mel", mel_cache_name(entry.audio))

    @property
    def lengths(self) -> list[int]:
        """Frames per item, for ``FrameBudgetBatchSampler``.

        Exact from ``extra["mel_frames"]`` (prepared manifests); otherwise estimated from
        ``duration`` or the audio header as frames(round(samples · sr / sr_source)), which
        matches soxr's output length.
        """
        return [self._length(entry) for entry in self.entries]

    def _length(self, entry: ManifestEntry) -> int:
        if "mel_frames" in entry.extra:
            return int(entry.extra["mel_frames"])
        sr = self.mel_config.sample_rate
        if entry.duration is not None:
            samples = math.floor(entry.duration * sr + 0.5)
        else:
            try:
                info = sf.info(entry.audio)
            except (sf.LibsndfileError, RuntimeError, TypeError) as err:
                raise FlowvoxError(f"{entry.audio}: cannot read audio header ({err})") from err
            samples = math.floor(info.frames * sr / info.samplerate + 0.5)
        return self.mel_config.frames(samples)


def collate_utterances(batch: Sequence[Utterance], pad_value: float = 0.0) -> Batch:
    """Pad the mels of ``batch`` to the longest: mel (b, n, f), lengths (b,), mask (b, n)."""
    if not batch:
        raise FlowvoxError("collate_utterances: empty batch")
    lengths = torch.tensor([u.mel.shape[0] for u in batch], dtype=torch.long)  # (b,)
    longest, n_mels = int(lengths.max()), batch[0].mel.shape[1]
    mel = torch.full((len(batch), longest, n_mels), pad_value, dtype=batch[0].mel.dtype)
    for row, utterance in enumerate(batch):
        mel[row, : utterance.mel.shape[0]] = utterance.mel
    mask = torch.arange(longest)[None, :] < lengths[:, None]  # (b, n)
    return Batch(
        mel=mel,
        mel_lengths=lengths,
        mask=mask,
        texts=[u.text for u in batch],
        speakers=[u.speaker for u in batch],
        languages=[u.language for u in batch],
        audio_paths=[u.audio_path for u in batch],
        indices=torch.tensor([u.index for u in batch], dtype=torch.long),
    )
