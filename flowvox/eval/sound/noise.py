"""Noise colour from the spectral slope of the non-tonal parts of a clip.

Axis letters: s samples, k frequency bins, m bands.

The power spectral density (of the noise samples by Welch, or of a mixture's background
frames, ``layers``; Welch, 2048-point Hann segments, 50 % overlap) is averaged in
third-octave bands with centres f_m from 100 Hz to 7 kHz, and a line is fitted by least
squares to the band levels against octaves:

    10·log10 PSD(f_m) ≈ a + slope · log2(f_m)      (slope in dB per octave)

White noise has slope ≈ 0, pink ≈ −3, brown (integrated white) ≈ −6 dB/octave; the colour
is the nearest of the three (boundaries at −1.5 and −4.5 dB/octave).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

from flowvox.errors import FlowvoxError
from flowvox.eval.sound.signal import SAMPLE_RATE

COLOUR_SLOPES = {"white": 0.0, "pink": -3.0, "brown": -6.0}  # dB per octave
BAND_RANGE_HZ = (100.0, 7000.0)
MIN_SAMPLES = 2048


def spectral_slope(x: np.ndarray) -> float:
    """Slope of the band-averaged PSD of a 16 kHz waveform (s,) in dB per octave."""
    if len(x) < MIN_SAMPLES:
        raise FlowvoxError(
            f"noise: {len(x)} samples are too few for a spectral slope; need ≥ {MIN_SAMPLES}"
        )
    freqs, psd = welch(x, fs=SAMPLE_RATE, nperseg=MIN_SAMPLES)  # (k,), (k,)
    return psd_slope(freqs, psd)


def psd_slope(freqs: np.ndarray, psd: np.ndarray) -> float:
    """Slope in dB per octave of a power spectrum psd (k,) at ``freqs`` (k,) Hz, fitted to
    its third-octave band averages from 100 Hz to 7 kHz (see module docstring)."""
    lo, hi = np.log2(BAND_RANGE_HZ)
    centres = 2 ** np.arange(lo, hi + 1e-9, 1 / 3)  # (m,)
    levels, octaves = [], []
    for f in centres:
        inside = (freqs >= f * 2 ** (-1 / 6)) & (freqs < f * 2 ** (1 / 6))
        if inside.any():
            levels.append(10 * np.log10(psd[inside].mean() + 1e-30))
            octaves.append(np.log2(f))
    slope, _ = np.polyfit(np.array(octaves), np.array(levels), 1)
    return float(slope)


def colour_from_slope(slope_db_per_octave: float) -> str:
    """The colour whose nominal slope is nearest."""
    return min(COLOUR_SLOPES, key=lambda c: abs(COLOUR_SLOPES[c] - slope_db_per_octave))


def noise_colour(x: np.ndarray) -> str:
    """Colour of noise in a 16 kHz waveform (s,): white, pink or brown."""
    return colour_from_slope(spectral_slope(x))
