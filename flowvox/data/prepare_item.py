"""One utterance of ``prepare_dataset``: reuse its cached mel, compute it, or skip the file.

Axis letters: n frames, f mel bins.

Skip reasons: ``missing`` (no such file), ``unreadable`` (no read permission), ``empty``
(zero bytes or zero samples), ``corrupt`` (libsndfile cannot decode it), ``silent`` (peak
below ``SILENCE_DBFS`` after resampling). NaN or infinite samples are not skipped: they
raise ``FlowvoxError`` naming the file and the entry's origin (manifest line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from flowvox.audio.io import SILENCE_DBFS, is_silent, load_audio
from flowvox.audio.mel import MelSpectrogram
from flowvox.data.cache import (
    CACHE_FORMAT,
    mel_cache_name,
    read_mel,
    read_mel_metadata,
    source_signature,
    write_mel,
)
from flowvox.data.manifest import LocatedEntry
from flowvox.errors import FlowvoxError

SKIP_REASONS = ("missing", "unreadable", "empty", "corrupt", "silent")


@dataclass
class PreparedItem:
    """A usable utterance: its cache file, length and the mel sums for the statistics."""

    mel_file: str  # relative to the prepared folder
    frames: int
    seconds: float  # source samples / source sample rate
    reused: bool  # True when a valid cache file was found
    mel_sum: np.ndarray  # (f,) float64, Σ over frames
    mel_square_sum: np.ndarray  # (f,) float64, Σ over frames of mel²


@dataclass
class SkippedFile:
    """An audio file left out, and why."""

    audio: str
    reason: str  # one of SKIP_REASONS
    detail: str
    origin: str  # manifest line / transcript the entry came from


def prepare_item(
    located: LocatedEntry, out_dir: Path, mel_fn: MelSpectrogram
) -> PreparedItem | SkippedFile:
    """Reuse, compute or skip one entry (see the module docstring)."""
    audio = Path(located.entry.audio)
    mel_file = mel_cache_name(audio)

    def skip(reason: str, detail: str) -> SkippedFile:
        return SkippedFile(str(audio), reason, detail, located.origin)

    if not audio.is_file():
        return skip("missing", "no such file")
    if not os.access(audio, os.R_OK):
        return skip("unreadable", "no read permission")
    if audio.stat().st_size == 0:
        return skip("empty", "the file has zero bytes")
    cached = _valid_cache(out_dir / mel_file, audio, mel_fn.config.n_mels)
    if cached is not None:
        mel, seconds = cached
        return _item(mel_file, mel, seconds, reused=True)

    try:
        info = sf.info(str(audio))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        return skip("corrupt", f"cannot decode ({err})")
    if info.frames == 0:
        return skip("empty", "the file holds no samples")
    try:
        clip = load_audio(audio, mel_fn.config.sample_rate)
    except FlowvoxError as err:
        if _holds_non_finite(audio):
            raise FlowvoxError(f"{err} (entry from {located.origin}); fix or remove it") from None
        return skip("corrupt", str(err))
    if is_silent(clip.wav):
        return skip("silent", f"peak below {SILENCE_DBFS:g} dBFS")
    with torch.no_grad():  # grad mode is per thread
        mel = mel_fn(torch.from_numpy(clip.wav)).T.contiguous()  # (f, n) -> (n, f)
    seconds = info.frames / info.samplerate
    metadata = {
        "format": CACHE_FORMAT,
        "mel_preset": mel_fn.config.name,
        "source": str(audio.resolve()),
        **source_signature(audio),
        "source_sample_rate": info.samplerate,
        "source_samples": info.frames,
        "seconds": repr(seconds),
    }
    write_mel(out_dir / mel_file, mel, metadata)
    return _item(mel_file, mel, seconds, reused=False)


def _item(mel_file: str, mel: torch.Tensor, seconds: float, reused: bool) -> PreparedItem:
    values = mel.double()  # (n, f)
    return PreparedItem(
        mel_file=mel_file,
        frames=int(mel.shape[0]),
        seconds=seconds,
        reused=reused,
        mel_sum=values.sum(0).numpy(),
        mel_square_sum=values.square().sum(0).numpy(),
    )


def _valid_cache(path: Path, audio: Path, n_mels: int) -> tuple[torch.Tensor, float] | None:
    """(mel, seconds) when ``path`` is a readable cache of the unchanged ``audio``."""
    if not path.is_file():
        return None
    try:
        metadata = read_mel_metadata(path)
        signature = source_signature(audio)
        current = (
            metadata.get("format") == CACHE_FORMAT
            and metadata.get("source") == str(audio.resolve())
            and all(metadata.get(k) == v for k, v in signature.items())
        )
        if not current:
            return None
        return read_mel(path, n_mels), float(metadata["seconds"])
    except Exception:  # damaged or foreign file (safetensors has its own errors): recompute
        return None


def _holds_non_finite(audio: Path) -> bool:
    """True when the file decodes and holds NaN or infinite samples."""
    try:
        data, _ = sf.read(str(audio), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return False
    return not bool(np.all(np.isfinite(data)))
