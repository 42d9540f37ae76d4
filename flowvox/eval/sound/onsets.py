"""Sound events from the energy envelope: segments, their count and the active duration.

Axis letters: s samples, n frames (10 ms grid of ``signal``).

Rule, on the frame level L_j (dBFS, 25 ms RMS, smoothed by a 3-frame moving average):

    peak  = max_j L_j,    floor = max(P2(L), floor_limit_db)      (P2: 2nd percentile)
    on    = max(floor + on_above_floor_db, peak − on_below_peak_db)
    off   = max(floor + off_above_floor_db, on − hysteresis_db)

An event starts where L rises to ≥ on and lasts while L ≥ off (hysteresis). Each event is
then widened outwards while the level keeps falling towards the floor and stays ≥ floor +
off_above_floor_db (so fades and decays count as part of the event, not as silence).
Events closer than ``min_gap_s`` merge; events shorter than ``min_length_s`` are dropped.
A clip whose peak is below ``silent_db`` has no events; a clip whose dynamic range
peak − floor is below ``on_above_floor_db`` (one sound throughout) is one event.
Active duration = first event start → last event end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowvox.eval.sound.signal import FRAME_SECONDS, LEVEL_WINDOW, SAMPLE_RATE, frame_db


@dataclass(frozen=True)
class OnsetConfig:
    """Thresholds of the event detector (dB relative to the clip's floor and peak)."""

    silent_db: float = -60.0  # a clip quieter than this (dBFS peak) has no events
    floor_limit_db: float = -90.0  # the floor is never taken below this
    on_above_floor_db: float = 12.0
    on_below_peak_db: float = 35.0
    off_above_floor_db: float = 6.0
    hysteresis_db: float = 12.0
    min_gap_s: float = 0.05
    min_length_s: float = 0.03


@dataclass(frozen=True)
class Segment:
    """One event, in seconds from the clip start."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Events:
    """Detected events and the envelope they came from."""

    segments: list[Segment]
    level_db: np.ndarray  # (n,) smoothed frame level
    floor_db: float
    peak_db: float

    @property
    def count(self) -> int:
        return len(self.segments)


def active_seconds(segments: list[Segment]) -> float:
    """First start → last end; 0 without events."""
    return segments[-1].end - segments[0].start if segments else 0.0


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges [a, b) where a boolean (n,) mask is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _hysteresis(level: np.ndarray, on: float, off: float) -> list[tuple[int, int]]:
    """Runs of L ≥ off that contain at least one frame with L ≥ on."""
    return [(a, b) for a, b in runs(level >= off) if level[a:b].max() >= on]


def _widen(level: np.ndarray, a: int, b: int, stop: float) -> tuple[int, int]:
    """Extend [a, b) outwards while the level falls (≤ 1 dB rise) and stays ≥ stop."""
    while a > 0 and level[a - 1] >= stop and level[a - 1] <= level[a] + 1.0:
        a -= 1
    while b < len(level) and level[b] >= stop and level[b] <= level[b - 1] + 1.0:
        b += 1
    return a, b


def detect_events(x: np.ndarray, config: OnsetConfig | None = None) -> Events:
    """Events of a checked 16 kHz waveform (s,) (see ``signal.check_wav``)."""
    cfg = config or OnsetConfig()
    raw = frame_db(x)  # (n,)
    level = np.convolve(np.pad(raw, 1, mode="edge"), np.ones(3) / 3, mode="valid")  # (n,)
    peak = float(level.max())
    floor = float(max(np.percentile(level, 2), cfg.floor_limit_db))
    if peak < cfg.silent_db:
        return Events([], level, floor, peak)
    if peak - floor < cfg.on_above_floor_db:
        runs = [(0, len(level))]
    else:
        on = max(floor + cfg.on_above_floor_db, peak - cfg.on_below_peak_db)
        off = max(floor + cfg.off_above_floor_db, on - cfg.hysteresis_db)
        runs = [
            _widen(level, a, b, floor + cfg.off_above_floor_db)
            for a, b in _hysteresis(level, on, off)
        ]
    merged: list[list[int]] = []
    gap = int(round(cfg.min_gap_s / FRAME_SECONDS))
    for a, b in runs:
        if merged and a - merged[-1][1] < gap:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    duration = len(x) / SAMPLE_RATE
    tail = (LEVEL_WINDOW / SAMPLE_RATE) - FRAME_SECONDS  # a frame reaches this past its hop
    segments = [
        Segment(a * FRAME_SECONDS, min(duration, b * FRAME_SECONDS + tail))
        for a, b in merged
        if (b - a) * FRAME_SECONDS >= cfg.min_length_s
    ]
    return Events(segments, level, floor, peak)
