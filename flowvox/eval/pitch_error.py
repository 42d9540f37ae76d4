"""F0 RMSE between two utterances along the DTW path that MCD uses.

Pitch per 10 ms analysis frame comes from :func:`flowvox.audio.pitch.frame_pitch` on the
same trimmed 16 kHz waveforms and frames as :mod:`flowvox.eval.mcd`, so the path pairs
pitch frames too. Over the K' path pairs (i, j) where both frames are voiced (F0 > 0):

    F0 RMSE = sqrt( (1/K') Σ (f0_a[i] − f0_b[j])² )   [Hz]

and the voicing disagreement is the share of all path pairs where exactly one is voiced.
No voiced pair (e.g. whispered or noise output): RMSE is NaN and ``voiced_pairs`` is 0.
"""
# n: frames of the first utterance, m: frames of the second, k: path pairs

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowvox.audio.pitch import PitchConfig, frame_pitch
from flowvox.eval.mcd import ANALYSIS_MEL


@dataclass(frozen=True)
class PitchError:
    """F0 RMSE in Hz over pairs voiced in both, with how many pairs it rests on."""

    f0_rmse_hz: float  # NaN when no pair is voiced in both
    voiced_pairs: int
    voicing_disagreement: float  # share of path pairs voiced in exactly one utterance


def f0_rmse(f0_a: np.ndarray, f0_b: np.ndarray, path: np.ndarray) -> PitchError:
    """RMSE of F0 tracks a (n,) and b (m,) (Hz, 0 = unvoiced) along ``path`` (k, 2)."""
    pa, pb = f0_a[path[:, 0]], f0_b[path[:, 1]]  # (k,), (k,)
    both = (pa > 0) & (pb > 0)
    one = (pa > 0) != (pb > 0)
    rmse = float(np.sqrt(np.mean((pa[both] - pb[both]) ** 2))) if both.any() else float("nan")
    return PitchError(rmse, int(both.sum()), float(one.mean()) if len(path) else 0.0)


def f0_track(wav16: np.ndarray, config: PitchConfig | None = None) -> np.ndarray:
    """F0 in Hz (0 = unvoiced) per analysis frame of a 16 kHz waveform (s,) -> (n,), on the
    frame grid of :func:`flowvox.eval.mcd.mel_cepstrum`."""
    return frame_pitch(wav16, ANALYSIS_MEL, config)
