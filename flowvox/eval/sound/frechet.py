"""Fréchet distance between two sets of clips in one fixed, model-free embedding.

Axis letters: c clips, f mel bins, n frames, d embedding dims.

Embedding of a clip (resampled to 16 kHz): its 64-bin log-mel M (f, n) from the mel preset
``lafma16k``, and the deltas Δ_j = (M_{j+1} − M_{j−1}) / 2 (edge frames repeated), give

    v = [mean_n M, std_n M, mean_n Δ, std_n Δ]   ∈ R^256
    e = Qᵀ v                                     ∈ R^128

with Q (256, 128) the orthonormal columns of the QR factorisation of a standard normal
matrix drawn by ``numpy.random.default_rng(0)`` (fixed forever; changing it changes every
figure). Between two sets with embedding means μ₁, μ₂ and covariances Σ₁, Σ₂ (plus a ridge
ε·I, ε = 1e-6, for sets smaller than 128 clips)

    FD = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})

with the matrix square root from ``scipy.linalg.sqrtm`` (real part). FD ≥ 0, symmetric, and
0 for a set against itself. Figures are comparable only between runs of this embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
from scipy.linalg import sqrtm

from flowvox.audio.mel import MelSpectrogram, get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.eval.sound.signal import check_wav

MEL_PRESET = "lafma16k"
EMBED_DIM = 128
PROJECTION_SEED = 0
RIDGE = 1e-6


@cache
def projection() -> np.ndarray:
    """The fixed (256, 128) matrix Q with orthonormal columns, built once per process
    (a pure function, cached; the array is read-only)."""
    gaussian = np.random.default_rng(PROJECTION_SEED).standard_normal((4 * 64, EMBED_DIM))
    q, _ = np.linalg.qr(gaussian)
    q.setflags(write=False)
    return q


def clip_features(
    wav: np.ndarray, sample_rate: int, mel: MelSpectrogram | None = None
) -> np.ndarray:
    """v ∈ R^256 of one mono clip (s,) (see module docstring)."""
    mel = mel or MelSpectrogram(get_mel_preset(MEL_PRESET))
    config = mel.config
    x = check_wav(wav, sample_rate)
    if len(x) < config.n_fft:
        raise FlowvoxError(
            f"frechet: a clip of {len(x)} samples is too short; need ≥ {config.n_fft} at 16 kHz"
        )
    with torch.no_grad():
        m = mel(torch.from_numpy(x).float()).double().numpy()  # (f, n)
    padded = np.pad(m, ((0, 0), (1, 1)), mode="edge")
    delta = (padded[:, 2:] - padded[:, :-2]) / 2  # (f, n)
    return np.concatenate([m.mean(1), m.std(1), delta.mean(1), delta.std(1)])


def embed_clips(clips: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    """Embeddings e = Qᵀ v of clips at one sample rate -> (c, 128)."""
    q, mel = projection(), MelSpectrogram(get_mel_preset(MEL_PRESET))
    return np.stack([clip_features(c, sample_rate, mel) @ q for c in clips])


def frechet_distance(a: np.ndarray, b: np.ndarray, ridge: float = RIDGE) -> float:
    """FD between two sets of embeddings (c₁, d) and (c₂, d); each set needs ≥ 2 rows."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise FlowvoxError(f"frechet: embeddings {a.shape} and {b.shape} must be (c, d), same d")
    if len(a) < 2 or len(b) < 2:
        raise FlowvoxError(f"frechet: sets of {len(a)} and {len(b)} clips; each needs ≥ 2 clips")
    eye = ridge * np.eye(a.shape[1])
    mu1, mu2 = a.mean(0), b.mean(0)
    s1 = np.cov(a, rowvar=False) + eye  # (d, d)
    s2 = np.cov(b, rowvar=False) + eye
    root = np.real(sqrtm(s1 @ s2))
    fd = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))
    return max(fd, 0.0)


def sound_frechet_distance(
    clips_a: Sequence[np.ndarray], clips_b: Sequence[np.ndarray], sample_rate: int
) -> float:
    """FD between two sets of mono clips at ``sample_rate`` in the fixed embedding."""
    return frechet_distance(embed_clips(clips_a, sample_rate), embed_clips(clips_b, sample_rate))
