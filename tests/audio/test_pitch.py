"""Frame pitch on tones of known F0, silence and noise; energy; per-token averaging."""
# n: frames, l: tokens, f: mel bins

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowvox.audio.mel import MelSpectrogram, get_mel_preset
from flowvox.audio.pitch import PitchConfig, average_per_token, energy, frame_pitch
from flowvox.errors import FlowvoxError


def tone(hz: float, seconds: float, sr: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("preset", ["vocos24k", "hifigan22k"])
@pytest.mark.parametrize("hz", [120.0, 220.0])
def test_tone_pitch_within_two_percent_and_frames_match_the_mel(preset, hz):
    mel_config = get_mel_preset(preset)
    wav = tone(hz, 0.6, mel_config.sample_rate)
    f0 = frame_pitch(wav, mel_config)
    mel = MelSpectrogram(mel_config)(torch.from_numpy(wav))  # (f, n)
    assert f0.shape == (mel.shape[1],) and f0.dtype == np.float32
    inner = f0[3:-3]  # frames whose window lies inside the tone
    assert (inner > 0).all()
    assert np.abs(inner / hz - 1).max() < 0.02


@pytest.mark.slow
def test_pyin_option_finds_the_tone_and_leaves_silence_unvoiced():
    mel_config = get_mel_preset("vocos24k")
    sr = mel_config.sample_rate
    wav = np.concatenate([tone(220.0, 0.4, sr), np.zeros(sr // 4, np.float32)])
    f0 = frame_pitch(wav, mel_config, PitchConfig(method="pyin"))
    voiced_end = mel_config.frames(int(0.4 * sr))
    assert np.abs(f0[3 : voiced_end - 4] / 220.0 - 1).max() < 0.02
    assert not f0[voiced_end + 4 :].any()


def test_silence_and_noise_are_unvoiced_a_tone_after_silence_is_voiced():
    mel_config = get_mel_preset("vocos24k")
    sr = mel_config.sample_rate
    assert not frame_pitch(np.zeros(sr // 2, np.float32), mel_config).any()
    noise = 0.3 * np.random.default_rng(0).standard_normal(sr // 2).astype(np.float32)
    assert (frame_pitch(noise, mel_config) > 0).mean() < 0.1
    wav = np.concatenate([np.zeros(sr // 2, np.float32), tone(150.0, 0.5, sr)])
    f0 = frame_pitch(wav, mel_config)
    half = mel_config.frames(sr // 2)
    assert not f0[: half - 4].any() and (f0[half + 4 : -4] > 0).all()


def test_a_short_burst_more_than_an_octave_off_is_unvoiced():
    mel_config = get_mel_preset("vocos24k")
    sr = mel_config.sample_rate
    wav = np.concatenate([tone(120.0, 0.6, sr), tone(600.0, 0.08, sr), tone(120.0, 0.3, sr)])
    start = mel_config.frames(int(0.6 * sr))
    burst = slice(start + 3, start + 5)  # frames inside the 600 Hz burst
    f0 = frame_pitch(wav, mel_config)
    assert not f0[burst].any() and (f0[3 : start - 3] > 0).all()
    kept = frame_pitch(wav, mel_config, PitchConfig(octave_limit=None))
    assert np.abs(kept[burst] / 600.0 - 1).max() < 0.02


def test_bad_pitch_settings_are_clear_errors():
    with pytest.raises(FlowvoxError, match="method"):
        PitchConfig(method="crepe")
    with pytest.raises(FlowvoxError, match="fmin"):
        PitchConfig(fmin=300, fmax=200)
    with pytest.raises(FlowvoxError, match="octave_limit"):
        PitchConfig(octave_limit=0.0)


def test_energy_is_the_log_norm_of_linear_mels():
    log_mel = torch.randn(2, 7, 5, dtype=torch.float64)
    want = log_mel.exp().norm(dim=-1).log()
    assert torch.allclose(energy(log_mel), want)
    assert energy(log_mel + 1.0).sub(energy(log_mel)).sub(1.0).abs().max() < 1e-12


def loop_reference(values, durations):
    out, start = [], 0
    for d in durations:
        seg = [v for v in values[start : start + d] if v > 0]
        out.append(sum(seg) / len(seg) if seg else 0.0)
        start += d
    return out


def test_token_average_matches_a_loop_over_voiced_frames():
    rng = np.random.default_rng(1)
    durations = np.array([3, 0, 4, 1, 5, 2])
    values = rng.uniform(80, 300, size=20) * (rng.random(20) > 0.4)  # n = 20 > Σ d = 15
    values[3:7] = 0.0  # token 2 wholly unvoiced
    got = average_per_token(values, durations)
    assert isinstance(got, np.ndarray) and got.shape == (6,)
    np.testing.assert_allclose(got, loop_reference(values.tolist(), durations.tolist()))
    # batched torch, padded with zero durations, equals each row alone
    v = torch.tensor(np.stack([values, values[::-1].copy()]))
    d = torch.tensor([[3, 0, 4, 1, 5, 2], [6, 6, 0, 0, 0, 0]])
    batch = average_per_token(v, d)
    for row in range(2):
        assert torch.allclose(batch[row], average_per_token(v[row], d[row]))
    np.testing.assert_allclose(batch[1, :2], loop_reference(v[1].tolist(), [6, 6]))
    every = average_per_token(v, d, voiced_only=False)
    assert torch.allclose(every[1, :2], v[1, :12].reshape(2, 6).mean(1))
    with pytest.raises(FlowvoxError, match="durations"):
        average_per_token(v, -d)
