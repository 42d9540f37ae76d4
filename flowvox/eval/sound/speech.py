"""Speech presence and speaker sex from voicing, without a learned model.

Axis letters: s samples, n frames (10 ms grid).

F0 comes from ``flowvox.audio.pitch.frame_pitch`` (YIN, 65–800 Hz, its voicing rule and
octave-outlier removal). An event is speech when all of

    P50(prominence) ∈ [15, 40) dB      harmonic but not a pure synthetic tone, not noise
    v = voiced fraction ∈ [0.3, 0.95]  speech alternates voiced and unvoiced sounds
    r ≥ 1 /s  or  σ_F0 ≥ 0.5 semitone  voicing changes at syllable rate, or the F0 moves

hold, with r the rate of voiced↔unvoiced changes (after a 5-frame median filter) and σ_F0 the
standard deviation of 12·log2 F0 over voiced frames. With a recogniser (``Transcriber``,
e.g. pocketsphinx) the clip's speech events must also yield ≥ 1 word: a veto only, since
pocketsphinx returns words for noise too.

Sex: median F0 over the voiced frames of all speech events; < 165 Hz is male, else female.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

from flowvox.audio.mel import get_mel_preset
from flowvox.audio.pitch import PitchConfig, frame_pitch
from flowvox.eval.sound.signal import FRAME_SECONDS

MALE_BELOW_HZ = 165.0


@dataclass(frozen=True)
class SpeechConfig:
    """Thresholds of the speech rule (see module docstring)."""

    prominence_db: tuple[float, float] = (15.0, 40.0)
    voiced_fraction: tuple[float, float] = (0.3, 0.95)
    min_voicing_changes_per_s: float = 1.0
    min_f0_std_semitones: float = 0.5
    male_below_hz: float = MALE_BELOW_HZ
    min_words: int = 1  # with a recogniser


@dataclass(frozen=True)
class VoicingStats:
    """Voicing of one event: voiced fraction, voiced↔unvoiced changes per second, F0 spread."""

    voiced_fraction: float
    changes_per_s: float
    f0_std_semitones: float


def speech_f0(x: np.ndarray, frames: int) -> np.ndarray:
    """YIN F0 in Hz (0 unvoiced), 65–800 Hz, on the 10 ms grid: (s,) -> (frames,)."""
    f0 = frame_pitch(x, get_mel_preset("lafma16k"), PitchConfig())
    out = np.zeros(frames)
    k = min(frames, len(f0))
    out[:k] = f0[:k]
    return out


def voicing_stats(f0: np.ndarray) -> VoicingStats:
    """Statistics of an event's F0 track (n,) (Hz, 0 unvoiced)."""
    voiced = f0 > 0
    smooth = median_filter(voiced.astype(np.int8), size=5, mode="nearest")
    seconds = max(len(f0), 1) * FRAME_SECONDS
    changes = float(np.abs(np.diff(smooth)).sum()) / seconds
    semis = 12 * np.log2(f0[voiced]) if voiced.sum() > 1 else np.zeros(1)
    return VoicingStats(float(voiced.mean()) if len(f0) else 0.0, changes, float(semis.std()))


def looks_like_speech(
    prominence_db: float, stats: VoicingStats, config: SpeechConfig | None = None
) -> bool:
    """The speech rule of the module docstring for one event."""
    cfg = config or SpeechConfig()
    lo, hi = cfg.prominence_db
    vlo, vhi = cfg.voiced_fraction
    moving = (
        stats.changes_per_s >= cfg.min_voicing_changes_per_s
        or stats.f0_std_semitones >= cfg.min_f0_std_semitones
    )
    return lo <= prominence_db < hi and vlo <= stats.voiced_fraction <= vhi and moving


def sex_from_f0(f0: np.ndarray, config: SpeechConfig | None = None) -> str | None:
    """ "male" when the median voiced F0 of a track (n,) is below the threshold, else
    "female"; None without voiced frames."""
    cfg = config or SpeechConfig()
    voiced = f0[f0 > 0]
    if not len(voiced):
        return None
    return "male" if float(np.median(voiced)) < cfg.male_below_hz else "female"
