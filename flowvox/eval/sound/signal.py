"""Input checks and the frame grid every sound judge shares.

Axis letters: s samples, n frames, k frequency bins.

All judges work at 16 kHz mono (the sound corpus rate); other rates ≥ 16 kHz are resampled
with soxr, lower rates are refused (the noise judge needs content up to 7 kHz). Frames are
10 ms apart (hop 160) with a 25 ms (400-sample) window for levels and a 64 ms (1024-sample)
Hann window for spectra; frame j covers samples [j·hop, j·hop + window).
"""

from __future__ import annotations

import numpy as np

from flowvox.audio.io import check_finite, resample
from flowvox.errors import FlowvoxError

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
LEVEL_WINDOW = 400  # 25 ms
FFT_SIZE = 1024  # 64 ms
FRAME_SECONDS = HOP / SAMPLE_RATE
SILENCE_DB = -120.0  # level given to digital silence


def check_wav(wav: np.ndarray, sample_rate: int, name: str = "audio") -> np.ndarray:
    """Check a mono waveform (s,) and return it as float64 at 16 kHz.

    Raises ``FlowvoxError`` for non-mono, empty or non-finite audio and for a sample rate
    that is not an integer ≥ 16000.
    """
    x = np.asarray(wav)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise FlowvoxError(f"{name}: expected a mono waveform of shape (s,), got {x.shape}")
    if x.size == 0:
        raise FlowvoxError(f"{name}: the waveform is empty; pass at least one sample")
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate < 16000:
        raise FlowvoxError(
            f"{name}: sample rate {sample_rate!r} is not supported; pass audio at ≥ 16000 Hz "
            "(it is resampled to 16000)"
        )
    x = x.astype(np.float32, copy=False)
    check_finite(x, name)
    x = resample(x, int(sample_rate), SAMPLE_RATE)
    return np.asarray(x, dtype=np.float64)


def num_frames(num_samples: int) -> int:
    """Frames on the 10 ms grid: ceil(s / hop)."""
    return max(1, -(-num_samples // HOP))


def frame_view(x: np.ndarray, window: int) -> np.ndarray:
    """(s,) -> (n, window) frames, frame j starting at sample j·hop (zero-padded at the end)."""
    n = num_frames(len(x))
    padded = np.pad(x, (0, (n - 1) * HOP + window - len(x)))
    return np.lib.stride_tricks.sliding_window_view(padded, window)[::HOP][:n]


def frame_db(x: np.ndarray) -> np.ndarray:
    """Frame level L_j = 10·log10(mean(x²) over the 25 ms window) in dBFS (s,) -> (n,).

    A full-scale sine reads −3 dB; digital silence reads ``SILENCE_DB``.
    """
    power = (frame_view(x, LEVEL_WINDOW) ** 2).mean(1)
    return np.maximum(10 * np.log10(power + 1e-30), SILENCE_DB)


def power_spectrogram(x: np.ndarray) -> np.ndarray:
    """|STFT|² with a 1024-point Hann window on the 10 ms grid: (s,) -> (n, k), k = 513.

    Frame j is centred on sample j·hop + hop/2 (the signal is padded by (1024 − hop)/2).
    """
    pad = (FFT_SIZE - HOP) // 2
    frames = frame_view(np.pad(x, (pad, 0)), FFT_SIZE)  # (n, 1024)
    spec = np.fft.rfft(frames * np.hanning(FFT_SIZE), axis=1)  # (n, k)
    return spec.real**2 + spec.imag**2


def bin_hz() -> np.ndarray:
    """Centre frequency of each spectrogram bin (k,)."""
    return np.fft.rfftfreq(FFT_SIZE, 1 / SAMPLE_RATE)
