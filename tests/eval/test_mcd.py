"""MCD and F0 RMSE: exact values on hand-made cepstra and paths, invariances on signals."""

import math

import numpy as np
import pytest

from flowvox.errors import FlowvoxError
from flowvox.eval.mcd import (
    ANALYSIS_MEL,
    MCD_CONSTANT,
    analysis_wave,
    dtw_path,
    mel_cepstral_distortion,
    mel_cepstrum,
)
from flowvox.eval.pitch_error import f0_rmse, f0_track
from tests.infer.helpers import speech_like

SR = 16000


def harmonic(f0: float, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (0.2 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5))).astype(np.float32)


def test_mcd_formula_on_hand_made_cepstra():
    a = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    b = np.array([[0.0, 0.0], [1.0, 1.0]])
    path = np.array([[0, 0], [1, 1], [2, 1]])
    # distances along the path: 0, 1, 0 -> mean 1/3
    expected = 10 / math.log(10) * math.sqrt(2) / 3
    assert mel_cepstral_distortion(a, b, path) == pytest.approx(expected)
    assert MCD_CONSTANT == pytest.approx(6.1418, abs=1e-4)


def test_dtw_aligns_a_time_stretched_copy_at_zero_cost():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 5))
    b = np.repeat(a, 2, axis=0)  # every frame held twice
    path = dtw_path(a, b)
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [29, 59]
    assert np.all(np.diff(path, axis=0) >= 0)  # monotonic
    assert mel_cepstral_distortion(a, b, path) == pytest.approx(0.0, abs=1e-12)


def test_dtw_refuses_empty_input():
    with pytest.raises(FlowvoxError, match="no frames"):
        dtw_path(np.zeros((0, 3)), np.zeros((4, 3)))


def test_cepstra_ignore_gain_and_frames_follow_the_analysis_grid():
    wav = speech_like(1.0, SR)
    c = mel_cepstrum(wav, 13)
    assert c.shape == (ANALYSIS_MEL.frames(len(wav)), 13)
    quiet = mel_cepstrum(0.25 * wav, 13)  # gain only moves c0, which is left out
    loud_frames = np.abs(wav).reshape(-1, 160)[: len(c) - 1].max(1) > 0.05
    assert np.abs(quiet - c)[:-1][loud_frames].max() < 1e-3


def test_identical_audio_scores_zero_and_other_audio_does_not():
    x = analysis_wave(speech_like(1.5, 24000), 24000)  # resampled to 16 kHz and trimmed
    y = analysis_wave(harmonic(180, 1.5, 24000), 24000)
    cx, cy = mel_cepstrum(x), mel_cepstrum(y)
    assert mel_cepstral_distortion(cx, cx, dtw_path(cx, cx)) == 0.0
    assert mel_cepstral_distortion(cx, cy, dtw_path(cx, cy)) > 1.0


def test_f0_rmse_counts_only_pairs_voiced_in_both():
    f0_a = np.array([100.0, 110.0, 0.0, 120.0])
    f0_b = np.array([103.0, 0.0, 130.0])
    path = np.array([[0, 0], [1, 1], [2, 2], [3, 2]])
    # pairs: (100,103) both voiced; (110,0) one; (0,130) one; (120,130) both
    out = f0_rmse(f0_a, f0_b, path)
    assert out.voiced_pairs == 2
    assert out.f0_rmse_hz == pytest.approx(math.sqrt((3**2 + 10**2) / 2))
    assert out.voicing_disagreement == pytest.approx(0.5)
    none = f0_rmse(np.zeros(3), np.zeros(3), np.array([[0, 0], [1, 1], [2, 2]]))
    assert none.voiced_pairs == 0 and math.isnan(none.f0_rmse_hz)


def test_f0_rmse_of_two_tones_is_their_pitch_difference():
    a, b = harmonic(200.0), harmonic(220.0)
    f0_a, f0_b = f0_track(a), f0_track(b)
    path = np.stack([np.arange(len(f0_a))] * 2, axis=1)
    out = f0_rmse(f0_a, f0_b, path)
    assert out.voiced_pairs > 0.8 * len(path)
    assert out.f0_rmse_hz == pytest.approx(20.0, abs=2.0)
