"""Split one detected event into a steady background and the foreground sounding over it.

Axis letters: s samples, n frames (10 ms grid), k frequency bins.

A mixture (a tone, beeps, a pluck, a sweep or speech over quieter noise, or speech over a
steady tone) is one energy event whose first and last ``edge_s`` seconds hold the background
alone. Over those head and tail frames (``skip_s`` in from each edge), with prominence p the
median spectral-peak prominence (``pitch.peak_track``):

- both p < ``noise_below_db`` and the spectral slopes (``noise.psd_slope``) of head and tail
  within ``same_slope_db`` (one steady noise, not speech starting and ending unvoiced): a
  **noise** background with spectral shape S_k = mean_j (P_jk / Σ_k' P_jk') over head and
  tail, and per-frame level g_j = Q_0.3(P_jk / S_k) / (−ln 0.7) (a noise bin's power is
  ≈ exponential; the 30 % quantile over 100 Hz – 7 kHz ignores the few bins a foreground
  fills), so a fading background is followed;
- both p ≥ ``tone_above_db`` and the head and tail peaks within ``same_pitch_semitones``:
  a steady **tone** background, B_jk = mean of head and tail P_jk (g_j = 1).

Otherwise the event has no background. The residual R_jk = max(P_jk − α·B_jk, 0)
(α = ``over_subtract``: a noise-only bin leaves E[max(X − 2, 0)] = e^−2 of its power, −8.7
dB) is resynthesised by masking the STFT with √max(R/P, 10^(keep_db/10)) (a −20 dB floor keeps
a faint background, so the foreground's prominence reads as it would alone). Foreground
frames have Σ_k R_jk ≥ 10^(above_db/10)·Σ_k B_jk over 100 Hz – 7 kHz (a foreground is 6–12
dB above its background); runs closer
than ``min_gap_s`` merge, runs shorter than ``min_length_s`` drop. No foreground frame: no
mixture (a steady noise or tone alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import istft, stft

from flowvox.eval.sound.noise import psd_slope
from flowvox.eval.sound.onsets import Segment, runs
from flowvox.eval.sound.pitch import peak_track
from flowvox.eval.sound.signal import FFT_SIZE, FRAME_SECONDS, HOP, SAMPLE_RATE, bin_hz

BAND_HZ = (100.0, 7000.0)


@dataclass(frozen=True)
class LayerConfig:
    """Thresholds of the background / foreground split (see module docstring)."""

    min_event_s: float = 1.2
    edge_s: float = 0.3
    skip_s: float = 0.04
    noise_below_db: float = 15.0
    tone_above_db: float = 40.0
    same_pitch_semitones: float = 0.5
    same_slope_db: float = 1.5  # per octave
    over_subtract: float = 2.0
    keep_db: float = -20.0
    quantile: float = 0.3
    min_gap_s: float = 0.05
    min_length_s: float = 0.06
    above_db: float = 3.0


@dataclass(frozen=True)
class Layers:
    """A background over the whole event and the foreground pieces over it."""

    kind: str  # "noise" | "tone"
    start: float
    end: float
    pitch_hz: float | None  # a tone background's pitch
    level_db: np.ndarray  # (n,) background level on the clip's frame grid (-120 outside)
    shape: np.ndarray  # (k,) mean normalised power of the background-only frames
    residual: np.ndarray  # (s,) the clip with the background removed
    foreground: list[Segment]


def split_layers(
    x: np.ndarray, segment: Segment, frames: int, config: LayerConfig | None = None
) -> Layers | None:
    """The background and foreground of one event of a 16 kHz clip x (s,); None when the
    event is not a mixture (see module docstring). ``frames``: the clip's frame count."""
    cfg = config or LayerConfig()
    if segment.seconds < cfg.min_event_s:
        return None
    s0, s1 = int(segment.start * SAMPLE_RATE), int(segment.end * SAMPLE_RATE)
    _, _, z = stft(x[s0:s1], SAMPLE_RATE, "hann", FFT_SIZE, FFT_SIZE - HOP)  # (k, n')
    z = z * (FFT_SIZE / 2)  # scipy scales by the window sum: undo, for level only
    power = (np.abs(z) ** 2).T  # (n', k)
    n = len(power)
    skip, edge = int(cfg.skip_s / FRAME_SECONDS), int(cfg.edge_s / FRAME_SECONDS)
    head = np.arange(skip, min(n, skip + edge))
    tail = np.arange(max(0, n - skip - edge), n - skip)
    if len(head) < 5 or len(tail) < 5 or tail[0] <= head[-1]:
        return None
    peaks = peak_track(power)
    p_head, p_tail = (float(np.median(peaks.prominence_db[f])) for f in (head, tail))
    edges = np.concatenate([head, tail])
    hz = bin_hz()
    band = (hz >= BAND_HZ[0]) & (hz <= BAND_HZ[1])
    if p_head < cfg.noise_below_db and p_tail < cfg.noise_below_db:
        kind, pitch = "noise", None
        shapes = [
            (power[f] / power[f][:, band].sum(1, keepdims=True)).mean(0) for f in (head, tail)
        ]
        if abs(psd_slope(hz, shapes[0]) - psd_slope(hz, shapes[1])) > cfg.same_slope_db:
            return None  # not one steady noise (speech starting and ending unvoiced)
        shape = (shapes[0] + shapes[1]) / 2  # (k,)
        ratio = power[:, band] / np.maximum(shape[band], 1e-30)  # (n', k')
        gain = np.quantile(ratio, cfg.quantile, axis=1) / -np.log(1 - cfg.quantile)  # (n',)
        background = gain[:, None] * shape[None, :]  # (n', k)
    elif min(p_head, p_tail) >= cfg.tone_above_db:
        f_head, f_tail = (float(np.median(peaks.hz[f])) for f in (head, tail))
        if 12 * abs(np.log2(f_head / f_tail)) > cfg.same_pitch_semitones:
            return None
        kind, pitch = "tone", float(np.sqrt(f_head * f_tail))
        shape = power[edges].mean(0)  # (k,)
        background = np.broadcast_to(shape, power.shape)
    else:
        return None
    residual = np.maximum(power - cfg.over_subtract * background, 0.0)  # (n', k)
    fg = residual[:, band].sum(1) >= background[:, band].sum(1) * 10 ** (cfg.above_db / 10)
    fg[: head[-1] // 2] = False  # onsets of the background itself
    fg[n - (n - tail[0]) // 2 :] = False
    pieces = _pieces(fg, segment.start, cfg)
    if not pieces:
        return None
    mask = np.sqrt(np.maximum(residual / np.maximum(power, 1e-30), 10 ** (cfg.keep_db / 10)))
    _, y = istft(z * mask.T / (FFT_SIZE / 2), SAMPLE_RATE, "hann", FFT_SIZE, FFT_SIZE - HOP)
    out = np.zeros_like(x)
    out[s0:s1] = y[: s1 - s0]
    level = np.full(frames, -120.0)
    first = int(round(segment.start / FRAME_SECONDS))
    bg_db = 10 * np.log10(background.sum(1) + 1e-30)[: max(0, frames - first)]
    level[first : first + len(bg_db)] = bg_db
    return Layers(kind, segment.start, segment.end, pitch, level, shape, out, pieces)


def _pieces(fg: np.ndarray, offset: float, cfg: LayerConfig) -> list[Segment]:
    merged: list[list[int]] = []
    for a, b in runs(fg):
        if merged and (a - merged[-1][1]) * FRAME_SECONDS < cfg.min_gap_s:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [
        Segment(offset + a * FRAME_SECONDS, offset + b * FRAME_SECONDS)
        for a, b in merged
        if (b - a) * FRAME_SECONDS >= cfg.min_length_s
    ]
