"""Reading, writing and conditioning waveforms: load, resample, loudness, silence trim.

Waveforms here are mono float32 numpy arrays of shape (n,), samples in [-1, 1].
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_path

SILENCE_DBFS = -60.0  # a clip whose peak is below this is treated as silent
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")  # the audio files datasets are read from


@dataclass(frozen=True)
class AudioClip:
    """A mono waveform and its sample rate."""

    wav: np.ndarray  # (n,) float32
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.wav) / self.sample_rate


def load_audio(path: str | os.PathLike, sample_rate: int | None = None) -> AudioClip:
    """Load wav/flac/ogg (anything libsndfile reads), mix to mono, optionally resample.

    Integer files are scaled to [-1, 1]; float files are kept as they are. Raises
    ``FlowvoxError`` for a missing, unreadable or empty file and for NaN/infinite samples.
    """
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{path}: no such audio file")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (n, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise FlowvoxError(f"{path}: cannot read audio ({err}); use wav, flac or ogg") from err
    if data.shape[0] == 0:
        raise FlowvoxError(f"{path}: the audio file holds no samples")
    wav = data.mean(axis=1)  # (n,) mix channels down
    check_finite(wav, str(path))
    if sample_rate is not None and sample_rate != sr:
        wav = resample(wav, sr, sample_rate)
        sr = sample_rate
    return AudioClip(wav=wav.astype(np.float32, copy=False), sample_rate=int(sr))


def save_audio(
    path: str | os.PathLike, wav: np.ndarray, sample_rate: int, subtype: str = "PCM_16"
) -> None:
    """Write a mono waveform atomically (temporary name, then rename); format from suffix."""
    check_finite(wav, str(path))
    clipped = np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0)
    encoded = io.BytesIO()  # encoded first: a failed write is an OSError with its errno
    sf.write(encoded, clipped, sample_rate, subtype=subtype, format=Path(path).suffix[1:])
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.getbuffer())


def check_finite(wav: np.ndarray, name: str) -> None:
    """Raise ``FlowvoxError`` naming ``name`` when the waveform holds NaN or infinity."""
    if not np.all(np.isfinite(wav)):
        bad = int(np.count_nonzero(~np.isfinite(wav)))
        raise FlowvoxError(f"{name}: audio holds {bad} NaN or infinite samples")


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling with soxr (VHQ); (n,) -> (n * sr_out / sr_in,)."""
    if sr_in == sr_out:
        return wav
    return soxr.resample(wav, sr_in, sr_out, quality="VHQ").astype(np.float32, copy=False)


def peak_dbfs(wav: np.ndarray) -> float:
    """Peak level in dB relative to full scale (-inf for digital silence)."""
    peak = float(np.max(np.abs(wav))) if len(wav) else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def is_silent(wav: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when the clip's peak stays below ``threshold_dbfs``."""
    return peak_dbfs(wav) < threshold_dbfs


def loudness_normalize(
    wav: np.ndarray, sample_rate: int, target_lufs: float = -23.0, peak_limit: float = 0.99
) -> np.ndarray:
    """Scale to an integrated loudness of ``target_lufs`` (ITU-R BS.1770 via pyloudnorm).

    Clips shorter than one 400 ms gating block are scaled by RMS instead (-23 LUFS taken as
    -23 dBFS RMS). The gain is then reduced if needed so the peak stays at ``peak_limit``.
    Silent clips are returned unchanged.
    """
    if is_silent(wav):
        return wav
    if len(wav) >= int(0.4 * sample_rate):
        import pyloudnorm

        loudness = pyloudnorm.Meter(sample_rate).integrated_loudness(wav.astype(np.float64))
    else:
        loudness = 20.0 * np.log10(float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))))
    if not np.isfinite(loudness):
        return wav
    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    peak = float(np.max(np.abs(wav))) * gain
    if peak > peak_limit:
        gain *= peak_limit / peak
    return (wav * gain).astype(np.float32)


def trim_silence(
    wav: np.ndarray, sample_rate: int, top_db: float = 40.0, keep_ms: float = 50.0
) -> np.ndarray:
    """Cut leading and trailing stretches quieter than ``top_db`` below the peak.

    ``keep_ms`` of the quiet edge is kept on each side so onsets are not clipped.
    Silent clips are returned unchanged.
    """
    if is_silent(wav):
        return wav
    frame, hop = 1024, 256
    padded = np.pad(wav, frame // 2)  # centred frames, zero padding (as librosa.effects.trim)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]  # (frames, frame)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))  # (frames,)
    level_db = 20.0 * np.log10(np.maximum(rms, 1e-10) / rms.max())
    loud = np.flatnonzero(level_db > -top_db)
    start, end = loud[0] * hop, min(len(wav), (loud[-1] + 1) * hop)
    keep = int(keep_ms * sample_rate / 1000)
    return wav[max(0, start - keep) : min(len(wav), end + keep)]


def audio_files(folder: str | os.PathLike) -> Iterator[Path]:
    """Audio files under ``folder`` (recursive), by suffix (any case)."""
    return (
        p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
    )
