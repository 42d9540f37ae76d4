"""Mel-cepstral distortion (MCD) between two utterances, aligned by dynamic time warping.

Features: both waveforms are resampled to 16 kHz, their leading/trailing silence trimmed
(``trim_silence``, 40 dB below peak), and each 10 ms frame (``ANALYSIS_MEL``: 25 ms Hann
window, 80 HTK mel bands up to 8 kHz) becomes a mel-cepstrum

    c_{j,d} = (1/F) Σ_{k=0..F-1} L_{j,k} cos(π d (k + ½) / F),   d = 1 .. D   (c0 dropped)

with L_j = ln |M · STFT(x)_j| the F-band log-mel magnitude: the cepstrum of the natural-log
amplitude on a mel-warped frequency axis, ln|H(ω)| ≈ c_0 + 2 Σ_d c_d cos(d ω) (c0, the
frame energy, is dropped so that loudness does not count).

DTW: the path p = ((i_1, j_1), ..., (i_K, j_K)) through the frame pairs with the least summed
Euclidean distance ‖c_i − ĉ_j‖ (steps (1,1), (1,0), (0,1); ``librosa.sequence.dtw``).

    MCD = (10 / ln 10) · (1/K) Σ_k sqrt(2 Σ_{d=1..D} (c_{i_k,d} − ĉ_{j_k,d})²)   [dB]

The constant is the usual one for cepstra of the natural-log amplitude spectrum. Cepstra
from a log-mel DCT (not SPTK's all-pass mel-cepstral analysis) put figures on a related but
not identical scale: compare MCDs made by this module with each other, not with papers.
Identical audio gives 0 dB; two different sentences of one flite voice about 4 dB.
"""
# n: frames of the first utterance, m: frames of the second, d: cepstral coefficients

from __future__ import annotations

import math

import numpy as np

from flowvox.audio import resample, trim_silence
from flowvox.audio.mel import MelConfig, MelSpectrogram
from flowvox.errors import FlowvoxError

ANALYSIS_RATE = 16000
ANALYSIS_MEL = MelConfig(
    name="eval16k",
    sample_rate=ANALYSIS_RATE,
    n_fft=512,
    hop_length=160,  # 10 ms
    win_length=400,  # 25 ms
    n_mels=80,
    f_min=0.0,
    f_max=8000.0,
)
MCD_CONSTANT = 10.0 / math.log(10.0) * math.sqrt(2.0)  # dB per unit of cepstral distance


def analysis_wave(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """A mono waveform (s,) -> 16 kHz (s',) float32 with leading/trailing silence trimmed."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1 or wav.size == 0:
        raise FlowvoxError(f"audio: expected a non-empty mono waveform (s,), got {wav.shape}")
    return trim_silence(resample(wav, sample_rate, ANALYSIS_RATE), ANALYSIS_RATE)


def mel_cepstrum(wav16: np.ndarray, n_coeffs: int = 24) -> np.ndarray:
    """Mel-cepstra c1..c_D (n, D) of a 16 kHz waveform (s,), n = ANALYSIS_MEL.frames(s)."""
    import torch
    from scipy.fft import dct

    if not 1 <= n_coeffs < ANALYSIS_MEL.n_mels:
        raise FlowvoxError(f"mcd coefficients {n_coeffs}: use 1..{ANALYSIS_MEL.n_mels - 1}")
    with torch.inference_mode():
        log_mel = MelSpectrogram(ANALYSIS_MEL)(torch.from_numpy(wav16).float())  # (f, n)
    bands = log_mel.shape[0]
    # scipy's unnormalised DCT-II is 2 Σ_k L_k cos(π d (k + ½) / F): divide by 2F
    cepstra = dct(log_mel.numpy().T.astype(np.float64), type=2, axis=1) / (2 * bands)  # (n, f)
    return cepstra[:, 1 : n_coeffs + 1]  # (n, d)


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least-cost monotonic alignment of frames a (n, d) and b (m, d) -> (k, 2) pairs."""
    import librosa

    if len(a) == 0 or len(b) == 0:
        raise FlowvoxError("dtw: an utterance has no frames; give audio that holds speech")
    _, path = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean")  # reversed (k, 2)
    return np.ascontiguousarray(path[::-1])


def mel_cepstral_distortion(a: np.ndarray, b: np.ndarray, path: np.ndarray) -> float:
    """MCD in dB between cepstra a (n, d) and b (m, d) along ``path`` (k, 2) (module formula)."""
    distance = np.linalg.norm(a[path[:, 0]] - b[path[:, 1]], axis=1)  # (k,)
    return float(MCD_CONSTANT * distance.mean())
