"""Fade direction from the slope of the loudness over the active part of a clip.

Axis letters: n frames (10 ms grid), m blocks.

Over the active part (first event start → last event end) the smoothed frame level L_j is
cut into 0.25 s blocks; each block's level is its loudest frame, clipped below at peak − 40
dB (so gaps between events and digital silence do not dominate). A line is fitted by least
squares to block level against time, and its change over the active part

    Δ = slope · (active seconds)      (dB)

decides, when the line explains the blocks (R² ≥ 0.5): Δ ≥ +15 dB votes "in", Δ ≤ −15 dB
votes "out". The same line is fitted to the first half of the blocks (a vote "in" only) and
to the second half (a vote "out" only), needing R² ≥ 0.7 there, so a fade over part of a
sound is found too (2 s of 6 s: half-fit Δ ≈ 17–19 dB, R² ≈ 0.77-0.8; the flite sentences'
half fits reach Δ = −17 dB with R² 0.6). One
direction voted: that fade; none or both (a swell): no fade. Clips active for less than
1.5 s have no fade (a lone pluck's decay is not a fade). Measured on the whole-clip line:
sox linear fades over a whole 6 s noise |Δ| ≈ 23–25 dB, R² ≈ 0.84; over 2 s of 6 s only
|Δ| ≈ 11–14 dB (hence the half fits); flite sentences |Δ| ≤ 11 dB (declination), beeps and
plucks |Δ| ≤ 8 dB with R² < 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowvox.eval.sound.onsets import Events
from flowvox.eval.sound.signal import FRAME_SECONDS


@dataclass(frozen=True)
class FadeConfig:
    """Thresholds of the fade rule (see module docstring)."""

    block_s: float = 0.25
    range_db: float = 40.0
    min_change_db: float = 15.0
    min_r2: float = 0.5
    min_half_r2: float = 0.7
    min_active_s: float = 1.5


@dataclass(frozen=True)
class LevelTrend:
    """The fitted line: change Δ over the active part (dB) and its R²."""

    change_db: float
    r2: float


def _fit(block_db: np.ndarray, block_s: float) -> LevelTrend:
    times = (np.arange(len(block_db)) + 0.5) * block_s
    slope, intercept = np.polyfit(times, block_db, 1)
    resid = block_db - (slope * times + intercept)
    r2 = 1.0 - resid.var() / block_db.var() if block_db.var() > 0 else 0.0
    return LevelTrend(float(slope * len(block_db) * block_s), float(r2))


def block_levels(events: Events, config: FadeConfig | None = None) -> np.ndarray:
    """Loudest frame of each block of the active part (m,); empty when it is too short."""
    cfg = config or FadeConfig()
    if not events.segments:
        return np.zeros(0)
    a = int(round(events.segments[0].start / FRAME_SECONDS))
    b = int(round(events.segments[-1].end / FRAME_SECONDS))
    level = np.maximum(events.level_db[a:b], events.peak_db - cfg.range_db)  # (n,)
    size = max(1, int(round(cfg.block_s / FRAME_SECONDS)))
    blocks = len(level) // size
    if blocks < 2 or (b - a) * FRAME_SECONDS < cfg.min_active_s:
        return np.zeros(0)
    return level[: blocks * size].reshape(blocks, size).max(1)  # (m,)


def level_trend(events: Events, config: FadeConfig | None = None) -> LevelTrend:
    """Δ and R² of the line fitted over the whole active part; (0, 0) when it is too short."""
    cfg = config or FadeConfig()
    block_db = block_levels(events, cfg)
    return _fit(block_db, cfg.block_s) if len(block_db) >= 2 else LevelTrend(0.0, 0.0)


def fade_direction(events: Events, config: FadeConfig | None = None) -> str | None:
    """ "in", "out" or None by the rule of the module docstring."""
    cfg = config or FadeConfig()
    block_db = block_levels(events, cfg)
    if len(block_db) < 4:
        return None
    half = len(block_db) // 2
    whole, first, second = (
        _fit(b, cfg.block_s) for b in (block_db, block_db[:half], block_db[-half:])
    )
    rises = [(whole, cfg.min_r2), (first, cfg.min_half_r2)]
    falls = [(whole, cfg.min_r2), (second, cfg.min_half_r2)]
    fade_in = any(t.r2 >= r2 and t.change_db >= cfg.min_change_db for t, r2 in rises)
    fade_out = any(t.r2 >= r2 and t.change_db <= -cfg.min_change_db for t, r2 in falls)
    if fade_in == fade_out:
        return None
    return "in" if fade_in else "out"
