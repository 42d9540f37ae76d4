"""Mel presets against an independent float64 computation with librosa."""

import librosa
import numpy as np
import pytest
import torch

from flowvox.audio.mel import MEL_PRESETS, MelConfig, MelSpectrogram, get_mel_preset
from flowvox.errors import FlowvoxError


def librosa_log_mel(y: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """The preset's definition written out with librosa in float64: (f, n)."""
    y = y.astype(np.float64)
    if not cfg.center:
        pad = (cfg.n_fft - cfg.hop_length) // 2
        y = np.pad(y, (pad, pad), mode="reflect")
    spec = librosa.stft(
        y,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window="hann",
        center=cfg.center,
        pad_mode="reflect",
    )
    magnitude = np.sqrt(np.abs(spec) ** 2 + cfg.magnitude_eps) ** cfg.power
    bank = librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        htk=cfg.mel_scale == "htk",
        norm=cfg.norm,
        dtype=np.float64,
    )
    return np.log(np.maximum(bank @ magnitude, cfg.log_floor))


def make_signal(sample_rate: int, seconds: float = 1.3) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    chirp = 0.4 * np.sin(2 * np.pi * (200 + 1500 * t) * t)
    return (chirp + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("name", sorted(MEL_PRESETS))
def test_preset_matches_librosa(name):
    cfg = get_mel_preset(name)
    y = make_signal(cfg.sample_rate)
    ours = MelSpectrogram(cfg)(torch.from_numpy(y)).numpy()
    ref = librosa_log_mel(y, cfg)
    assert ours.shape == ref.shape == (cfg.n_mels, cfg.frames(len(y)))
    assert np.abs(ours - ref).max() < 1e-4


def test_vocos24k_is_the_f5_spec():
    cfg = get_mel_preset("vocos24k")
    spec = (cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.win_length, cfg.n_mels)
    assert spec == (24000, 1024, 256, 1024, 100)
    assert (cfg.mel_scale, cfg.norm, cfg.power, cfg.center, cfg.log_floor) == (
        "htk",
        None,
        1.0,
        True,
        1e-5,
    )
    assert cfg.frames(24000) == 94  # REFERENCE.md: 1 s -> 94 frames


def test_batched_equals_single():
    mel = MelSpectrogram(get_mel_preset("vocos24k"))
    y = torch.from_numpy(np.stack([make_signal(24000), make_signal(24000)[::-1].copy()]))
    batched = mel(y)
    assert batched.shape == (2, 100, 122)
    torch.testing.assert_close(batched[1], mel(y[1]))


def test_unknown_preset_lists_presets():
    with pytest.raises(FlowvoxError, match="vocos24k"):
        get_mel_preset("nope")


def test_mismatch_names_both_sides():
    a, b = get_mel_preset("vocos24k"), get_mel_preset("hifigan22k")
    a.check_same(MelConfig.from_dict(a.to_dict()), "model", "vocoder")  # same: no error
    with pytest.raises(
        FlowvoxError, match=r"model uses mel preset 'vocos24k'.*vocoder.*hifigan22k"
    ):
        a.check_same(b, "model", "vocoder")


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(FlowvoxError, match="unknown keys"):
        MelConfig.from_dict({**get_mel_preset("vocos24k").to_dict(), "fmax": 8000})
