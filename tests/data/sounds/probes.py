"""Plain-numpy probes of rendered audio: frame energy, bursts, spectral peak."""

import numpy as np


def frame_rms(wav: np.ndarray, sample_rate: int, frame_s: float = 0.005) -> np.ndarray:
    """RMS of consecutive frames: (n,) -> (n // frame,)."""
    frame = round(frame_s * sample_rate)
    frames = wav[: len(wav) // frame * frame].reshape(-1, frame).astype(np.float64)
    return np.sqrt(np.mean(frames**2, axis=1))


def count_bursts(wav: np.ndarray, sample_rate: int, relative: float = 0.1) -> int:
    """Runs of frames louder than ``relative`` x the loudest frame."""
    loud = frame_rms(wav, sample_rate) > relative * frame_rms(wav, sample_rate).max()
    return int(np.count_nonzero(loud[1:] & ~loud[:-1]) + loud[0])


def peak_hz(wav: np.ndarray, sample_rate: int) -> float:
    """Frequency of the largest magnitude of the Hann-windowed spectrum."""
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.fft.rfftfreq(len(wav), 1.0 / sample_rate)[np.argmax(spectrum)])
