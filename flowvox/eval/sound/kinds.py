"""What each detected event is: tone, pluck, noise, sweep or speech; and its pitch.

Axis letters: s samples, n frames (10 ms grid), k frequency bins.

Per event (frames a..b of the 10 ms grid), with p = median spectral-peak prominence
(``pitch.peak_track``):

1. p < 15 dB: **noise**.
2. p ≥ 40 dB (a clean synthetic tonal sound):
   **sweep** when the semitone peak track over frames with prominence ≥ 25 dB fits a line
   with R² ≥ 0.8 and the line moves ≥ 2 semitones over the event;
   **pluck** when it decays (the loudest frame lies in the first 20 % and the median level of
   the last 20 % is ≥ 4 dB below that of the first 20 %) and is harmonic (in the mean
   spectrum, both the YIN F0 and the strongest of its harmonics 2–5 are within 20 dB of
   the stronger of the two);
   otherwise **tone** (so a pure tone that fades out stays a tone).
3. 15 ≤ p < 40 dB: **tone** when YIN finds ≥ 50 % voiced frames with a steady F0 (σ of
   12·log2 F0 < 0.3 semitone; a short saw or square beep, whose harmonics lower p); else
   **speech** by ``speech.looks_like_speech``; else **tone** when YIN finds
   ≥ 50 % voiced frames, else **noise**.

Speech is one event however many pauses it holds: neighbouring events less than 0.6 s apart
merge when both are speech, or one is speech and the other a noise or tone event shorter than
0.4 s (a fricative, a plosive burst, a held vowel).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from flowvox.eval.sound.onsets import Events, Segment
from flowvox.eval.sound.pitch import (
    PeakTrack,
    steady_pitch,
    sweep_start_pitch,
)
from flowvox.eval.sound.signal import FRAME_SECONDS, bin_hz
from flowvox.eval.sound.speech import SpeechConfig, looks_like_speech, voicing_stats

KINDS = ("tone", "pluck", "noise", "sweep", "speech")
TONAL_KINDS = ("tone", "pluck", "sweep")


@dataclass(frozen=True)
class KindConfig:
    """Thresholds of the event classifier (see module docstring)."""

    noise_below_db: float = 15.0
    pure_above_db: float = 40.0
    track_prominence_db: float = 25.0
    sweep_r2: float = 0.8
    sweep_min_semitones: float = 2.0
    pluck_decay_db: float = 4.0
    harmonic_within_db: float = 20.0
    steady_semitones: float = 0.3
    speech_merge_gap_s: float = 0.6
    speech_absorb_s: float = 0.4


@dataclass(frozen=True)
class Event:
    """One classified event: kind, start and end in seconds, pitch in Hz (tonal kinds)."""

    kind: str
    start: float
    end: float
    pitch_hz: float | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Tracks:
    """Frame tracks of one clip, all (n,) on the 10 ms grid."""

    peaks: PeakTrack
    wide_f0: np.ndarray  # YIN 40–4000 Hz
    speech_f0: np.ndarray  # YIN 65–800 Hz
    power: np.ndarray  # (n, k) power spectrogram


def _frames(segment: Segment, n: int) -> tuple[int, int]:
    a = min(n - 1, int(round(segment.start / FRAME_SECONDS)))
    return a, max(a + 1, min(n, int(round(segment.end / FRAME_SECONDS))))


def _sweep(track_hz: np.ndarray, prominence: np.ndarray, cfg: KindConfig) -> bool:
    keep = prominence >= cfg.track_prominence_db
    if keep.sum() < 5:
        return False
    t = np.flatnonzero(keep).astype(float)
    semis = 12 * np.log2(np.maximum(track_hz[keep], 1.0))
    slope, intercept = np.polyfit(t, semis, 1)
    resid = semis - (slope * t + intercept)
    r2 = 1 - resid.var() / max(semis.var(), 1e-12)
    return r2 >= cfg.sweep_r2 and abs(slope) * len(track_hz) >= cfg.sweep_min_semitones


def _decays(level: np.ndarray, cfg: KindConfig) -> bool:
    fifth = max(1, len(level) // 5)
    head, tail = np.median(level[:fifth]), np.median(level[-fifth:])
    return int(level.argmax()) < fifth and head - tail >= cfg.pluck_decay_db


def _harmonic(power: np.ndarray, f0: float | None, cfg: KindConfig) -> bool:
    if f0 is None:
        return False
    mean = power.mean(0)  # (k,)
    hz = bin_hz()

    def near(f: float) -> float:
        inside = np.abs(hz - f) <= max(0.03 * f, hz[1])
        return float(mean[inside].max()) if inside.any() else 0.0

    fundamental = near(f0)
    overtones = max((near(k * f0) for k in range(2, 6) if k * f0 < hz[-1]), default=0.0)
    strongest = max(fundamental, overtones, 1e-30)
    floor = strongest * 10 ** (-cfg.harmonic_within_db / 10)
    return fundamental >= floor and overtones >= floor


def classify(
    segment: Segment,
    events: Events,
    tracks: Tracks,
    config: KindConfig | None = None,
    speech: SpeechConfig | None = None,
) -> Event:
    """The kind and pitch of one detected event."""
    cfg = config or KindConfig()
    a, b = _frames(segment, len(tracks.wide_f0))
    prominence = tracks.peaks.prominence_db[a:b]
    p = float(np.median(prominence))
    pitch = steady_pitch(tracks.wide_f0[a:b])
    if p < cfg.noise_below_db:
        return Event("noise", segment.start, segment.end)
    if p >= cfg.pure_above_db:
        if _sweep(tracks.peaks.hz[a:b], prominence, cfg):
            return Event(
                "sweep", segment.start, segment.end, sweep_start_pitch(tracks.peaks.hz, a, b)
            )
        harmonic = _harmonic(tracks.power[a:b], pitch, cfg)
        kind = "pluck" if harmonic and _decays(events.level_db[a:b], cfg) else "tone"
        peak = float(np.median(tracks.peaks.hz[a:b]))
        return Event(kind, segment.start, segment.end, pitch if harmonic else peak)
    voiced = tracks.wide_f0[a:b][tracks.wide_f0[a:b] > 0]
    if len(voiced) >= 0.5 * (b - a) and np.std(12 * np.log2(voiced)) < cfg.steady_semitones:
        return Event("tone", segment.start, segment.end, pitch)
    if looks_like_speech(p, voicing_stats(tracks.speech_f0[a:b]), speech):
        return Event("speech", segment.start, segment.end)
    if (tracks.wide_f0[a:b] > 0).mean() >= 0.5:
        return Event("tone", segment.start, segment.end, pitch)
    return Event("noise", segment.start, segment.end)


def merge_speech(events: list[Event], config: KindConfig | None = None) -> list[Event]:
    """Merge a speech event with close speech neighbours and short noise/tone pieces."""
    cfg = config or KindConfig()

    def joins(a: Event, b: Event) -> bool:
        if b.start - a.end >= cfg.speech_merge_gap_s or "speech" not in (a.kind, b.kind):
            return False
        other = b if a.kind == "speech" else a
        return other.kind == "speech" or (
            other.kind in ("noise", "tone") and other.seconds < cfg.speech_absorb_s
        )

    out: list[Event] = []
    for event in events:
        if out and joins(out[-1], event):
            out[-1] = replace(out[-1], kind="speech", end=event.end, pitch_hz=None)
        else:
            out.append(event)
    return out
