"""Pitch of tonal events: the spectral-peak track, YIN over a wide range, and semitone error.

Axis letters: s samples, n frames (10 ms grid), k frequency bins.

Per frame j of the power spectrogram P (1024-point Hann, ``signal.power_spectrogram``),
over the bins 60 Hz – 7 kHz in dB D_jk = 10·log10 P_jk:

    peak_j       = argmax_k D_jk, refined by a parabola through the three bins around it
    prominence_j = max_k (D_jk − median_{|k'−k| ≤ 15} D_jk')    (local peak height, dB)

A pure tone reads ≈ 60–110 dB of prominence, voiced speech ≈ 18–35 dB, any noise ≈ 10 dB.
The pitch of a steady tone or pluck is the median YIN F0 (``flowvox.audio.pitch.frame_pitch``
with 40–4000 Hz, so a pluck's fundamental wins over a stronger harmonic) over its voiced
frames; a sweep's pitch is its start: a line fitted to the semitone peak track over the first
0.25 s, read at the event start. Error e = 12·|log2(f̂ / f)| semitones; correct when e ≤ 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

from flowvox.audio.mel import get_mel_preset
from flowvox.audio.pitch import PitchConfig, frame_pitch
from flowvox.errors import FlowvoxError
from flowvox.eval.sound.signal import FRAME_SECONDS, bin_hz

TONAL_BAND_HZ = (60.0, 7000.0)
LOCAL_BINS = 15  # half-width of the neighbourhood a peak is compared with
WIDE_PITCH = PitchConfig(fmin=40.0, fmax=4000.0, octave_limit=None)
SWEEP_FIT_S = 0.25


@dataclass(frozen=True)
class PeakTrack:
    """Per-frame spectral peak: frequency (n,) in Hz and local prominence (n,) in dB."""

    hz: np.ndarray
    prominence_db: np.ndarray


def peak_track(power: np.ndarray) -> PeakTrack:
    """Spectral peak of each frame of a power spectrogram (n, k) (see module docstring)."""
    hz = bin_hz()
    lo, hi = np.searchsorted(hz, TONAL_BAND_HZ)
    full = 10 * np.log10(power + 1e-20)  # (n, k)
    local = median_filter(full, size=(1, 2 * LOCAL_BINS + 1), mode="mirror")[:, lo:hi]
    db = full[:, lo:hi]  # (n, k')
    prominence = (db - local).max(1)  # (n,)
    k = lo + db.argmax(1)  # (n,) bin index in the full spectrum (lo ≥ 1)
    rows = np.arange(len(k))
    right_bin = np.minimum(k + 1, full.shape[1] - 1)
    left, mid, right = full[rows, k - 1], full[rows, k], full[rows, right_bin]
    denom = left - 2 * mid + right  # < 0 at a peak
    safe = np.where(denom < -1e-9, denom, -1.0)
    offset = np.where(denom < -1e-9, np.clip(0.5 * (left - right) / safe, -0.5, 0.5), 0.0)
    return PeakTrack(hz=(k + offset) * (hz[1] - hz[0]), prominence_db=prominence)


def wide_f0(x: np.ndarray, frames: int) -> np.ndarray:
    """YIN F0 in Hz (0 unvoiced) on the 10 ms grid, 40–4000 Hz: (s,) -> (frames,)."""
    return _on_grid(frame_pitch(x, get_mel_preset("lafma16k"), WIDE_PITCH), frames)


def _on_grid(f0: np.ndarray, frames: int) -> np.ndarray:
    out = np.zeros(frames)
    k = min(frames, len(f0))
    out[:k] = f0[:k]
    return out


def steady_pitch(f0: np.ndarray) -> float | None:
    """Median of the voiced frames of an F0 track (n,); None when none is voiced."""
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) else None


def sweep_start_pitch(track_hz: np.ndarray, start_frame: int, end_frame: int) -> float:
    """Start pitch of a sweep: the semitone peak track over the first 0.25 s, fitted by a
    line and read at the start frame (frame j is centred at (j + ½)·hop)."""
    stop = min(end_frame, start_frame + max(3, int(SWEEP_FIT_S / FRAME_SECONDS)))
    first = start_frame + int(math.ceil(0.032 / FRAME_SECONDS))  # first full window
    frames = np.arange(min(first, stop - 2), stop)
    semis = 12 * np.log2(np.maximum(track_hz[frames], 1.0))
    slope, intercept = np.polyfit(frames + 0.5, semis, 1)
    start_semis = slope * start_frame + intercept
    return float(2 ** (start_semis / 12))


def semitone_error(estimate_hz: float, truth_hz: float) -> float:
    """e = 12·|log2(f̂ / f)| in semitones."""
    if not (estimate_hz > 0 and truth_hz > 0):
        raise FlowvoxError(f"pitch {estimate_hz} / {truth_hz} Hz: both must be > 0")
    return 12 * abs(math.log2(estimate_hz / truth_hz))


def pitch_correct(estimate_hz: float | None, truth_hz: float, semitones: float = 1.0) -> bool:
    """Within ``semitones`` of the truth; a missing estimate is wrong."""
    return estimate_hz is not None and semitone_error(estimate_hz, truth_hz) <= semitones
