"""Vocoder training data: whole clips from a JSONL manifest, random segments cut per step.

# b: batch, s: samples
The dataset returns each clip whole, resampled to the vocoder's mel sample rate and
peak-normalised; ``collate`` zero-pads a batch. The random part (where each segment starts,
its gain) is drawn in the training step from the trainer's ``ctx.generator`` by
``cut_segments``, so a resumed run cuts exactly the segments a straight run would, whatever
the number of loader workers. The frame-budget sampler sees every clip as
``segment_frames`` long: a batch holds min(train.max_items, train.max_frames //
segment_frames) clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flowvox.audio.io import load_audio
from flowvox.data.manifest import ManifestEntry, iter_manifest_located
from flowvox.errors import FlowvoxError


@dataclass
class VocoderDataConfig:
    """Where the audio is and how it is cut.

    ``manifest``: a JSONL manifest (``flowvox corpus build`` writes ``manifest.jsonl``);
    audio paths are relative to its folder. Training cuts ``segment_frames`` mel frames
    (``segment_seconds``, when set, is rounded to whole frames instead) from random places
    of each clip; shorter clips are zero-padded. With ``peak_db`` = (lo, hi), each clip is
    scaled to peak 1 and each segment by 10^(g/20), g ~ U(lo, hi) dBFS (None: as recorded).
    The fixed clip for ``log_media`` is ``validation_audio`` or the manifest's first
    ``validation_split`` entry (else its first entry), cut to ``validation_seconds``.
    """

    manifest: str = ""
    split: str | None = "train"  # train on the entries of this split; None: every entry
    segment_frames: int = 32
    segment_seconds: float | None = None
    peak_db: tuple[float, float] | None = (-1.0, -1.0)
    validation_audio: str | None = None
    validation_split: str = "test"
    validation_seconds: float = 4.0

    def __post_init__(self) -> None:
        if self.segment_frames < 1:
            raise FlowvoxError(f"data.segment_frames must be at least 1, got {self.segment_frames}")
        if self.segment_seconds is not None and self.segment_seconds <= 0:
            raise FlowvoxError(f"data.segment_seconds must be > 0, got {self.segment_seconds}")
        if self.peak_db is not None and not self.peak_db[0] <= self.peak_db[1] <= 0:
            raise FlowvoxError(
                f"data.peak_db {list(self.peak_db)}: write [lo, hi] with lo <= hi <= 0 (dBFS)"
            )
        if self.validation_seconds <= 0:
            raise FlowvoxError("data.validation_seconds must be > 0")

    def frames(self, sample_rate: int, hop: int) -> int:
        """Mel frames per training segment."""
        if self.segment_seconds is None:
            return self.segment_frames
        return max(1, round(self.segment_seconds * sample_rate / hop))


def read_entries(config: VocoderDataConfig) -> tuple[list[ManifestEntry], ManifestEntry | None]:
    """(training entries, the validation entry or None) of ``config.manifest``."""
    if not config.manifest:
        raise FlowvoxError("data.manifest is not set; point it at a JSONL manifest")
    entries = [located.entry for located in iter_manifest_located(config.manifest)]
    train = [e for e in entries if config.split is None or e.split == config.split]
    if not train:
        splits = sorted({e.split for e in entries})
        raise FlowvoxError(
            f"{config.manifest}: no entries of split {config.split!r} (it has {splits}); "
            "set data.split to one of them, or null for all"
        )
    held_out = [e for e in entries if e.split == config.validation_split]
    validation = held_out[0] if held_out else entries[0]
    return train, validation


def load_clip(path: str, sample_rate: int, peak_normalize: bool) -> torch.Tensor:
    """(s,) float32 waveform at ``sample_rate``; scaled to peak 1 with ``peak_normalize``."""
    wav = load_audio(path, sample_rate).wav
    peak = float(np.abs(wav).max())
    if peak_normalize and peak > 0:
        wav = wav / peak
    return torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))


@dataclass
class ClipBatch:
    """Zero-padded clips (b, s'), s' ≥ the segment length, and their true lengths (b,)."""

    wav: torch.Tensor
    lengths: torch.Tensor

    def to(self, device: torch.device) -> ClipBatch:
        return ClipBatch(self.wav.to(device), self.lengths.to(device))


class ClipDataset:
    """Map-style: ``[i]`` -> the whole clip ``i`` (s_i,), loaded on demand."""

    def __init__(self, entries: list[ManifestEntry], sample_rate: int, peak_normalize: bool):
        self.paths = [e.audio for e in entries]
        self.sample_rate = sample_rate
        self.peak_normalize = peak_normalize

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return load_clip(self.paths[index], self.sample_rate, self.peak_normalize)


@dataclass
class ClipCollate:
    """Pads clips to at least ``min_samples`` (one segment) into a ``ClipBatch``."""

    min_samples: int

    def __call__(self, clips: list[torch.Tensor]) -> ClipBatch:
        lengths = torch.tensor([len(c) for c in clips])
        width = max(int(lengths.max()), self.min_samples)
        wav = torch.zeros(len(clips), width)
        for row, clip in enumerate(clips):
            wav[row, : len(clip)] = clip
        return ClipBatch(wav, lengths)


def cut_segments(
    batch: ClipBatch,
    samples: int,
    generator: torch.Generator,
    peak_db: tuple[float, float] | None,
) -> torch.Tensor:
    """One random segment of ``samples`` per clip: (b, samples), on the batch's device.

    start_i = ⌊u_i · (max(len_i − samples, 0) + 1)⌋ with u_i ~ U[0, 1) from ``generator``
    (CPU), so every start lies inside the clip and a clip shorter than a segment starts at 0
    (its tail stays zero). With ``peak_db`` each segment is scaled by 10^(g_i/20).
    """
    b = batch.wav.shape[0]
    lengths = batch.lengths.cpu()
    room = (lengths - samples).clamp(min=0)  # (b,)
    u = torch.rand(b, generator=generator)
    start = torch.minimum((u * (room + 1)).floor().long(), room)  # (b,)
    index = start[:, None] + torch.arange(samples)[None, :]  # (b, samples)
    segments = batch.wav.gather(1, index.to(batch.wav.device))  # (b, samples)
    if peak_db is not None:
        lo, hi = peak_db
        gain_db = lo + (hi - lo) * torch.rand(b, generator=generator)  # (b,)
        segments = segments * (10.0 ** (gain_db / 20.0)).to(segments)[:, None]
    return segments
