"""Griffin-Lim: framing matches the mel presets, phase retrieval matches librosa, and speech
comes back with a log-mel close to the one it was given."""

import subprocess

import librosa
import numpy as np
import pytest
import torch

from flowvox.audio.io import load_audio
from flowvox.audio.mel import MEL_PRESETS, MelSpectrogram, get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.vocoders.griffin_lim import GriffinLim, GriffinLimConfig, num_samples

PRESETS = sorted(MEL_PRESETS)


def noise(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed)) * 0.1


def spectral_convergence(log_mel_out: torch.Tensor, log_mel_in: torch.Tensor) -> float:
    """‖exp(L̂) − exp(L)‖_F / ‖exp(L)‖_F: relative error of the mel magnitudes."""
    return float((log_mel_out.exp() - log_mel_in.exp()).norm() / log_mel_in.exp().norm())


@pytest.mark.parametrize("name", PRESETS)
def test_framing_is_the_presets(name):
    """|stft| through the filter bank gives MelSpectrogram's log-mel; istft inverts stft."""
    cfg = get_mel_preset(name)
    gl = GriffinLim(GriffinLimConfig(mel=name))
    wav = noise(2, 5000)
    spec = gl.stft(wav)  # (b, n, k)
    energy = spec.real.square() + spec.imag.square() + cfg.magnitude_eps
    log_mel = (energy.pow(cfg.power / 2) @ gl.bank.T).clamp(min=cfg.log_floor).log()  # (b, n, f)
    expected = MelSpectrogram(cfg)(wav).transpose(1, 2)
    assert log_mel.shape == expected.shape == (2, cfg.frames(5000), cfg.n_mels)
    assert (log_mel - expected).abs().max() < 1e-4
    back = gl.istft(spec, 5000, gl.window_envelope(spec.shape[1]))
    assert (back - wav).abs().max() < 1e-5


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_phase_retrieval_matches_librosa(momentum):
    cfg = get_mel_preset("vocos24k")  # centred, like librosa.griffinlim
    gl = GriffinLim(GriffinLimConfig(mel=cfg, n_iter=6, momentum=momentum))
    magnitude = torch.rand(2, 20, cfg.n_fft // 2 + 1, generator=torch.Generator().manual_seed(1))
    ours = gl.reconstruct(magnitude)
    ref = librosa.griffinlim(
        magnitude.transpose(1, 2).double().numpy(),
        n_iter=6,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        n_fft=cfg.n_fft,
        center=True,
        pad_mode="reflect",
        momentum=momentum,
        init=None,  # zero phase, as our default
        length=num_samples(cfg, 20),
    )
    assert ours.shape == ref.shape == (2, 19 * cfg.hop_length)
    assert np.abs(ours.numpy() - ref).max() < 1e-4


def test_nnls_inversion_beats_clamped_pseudo_inverse():
    cfg = get_mel_preset("hifigan22k")
    gl0 = GriffinLim(GriffinLimConfig(mel=cfg, nnls_iter=0))
    gl = GriffinLim(GriffinLimConfig(mel=cfg, nnls_iter=32))
    spec = gl.stft(noise(1, 8000)).abs()  # (1, n, k) a true magnitude
    target = (spec @ gl.bank.T).log()  # (1, n, f)
    residuals = []
    for model in (gl0, gl):
        magnitude = model.linear_magnitude(target)
        assert magnitude.min() >= 0
        residuals.append(float((magnitude @ gl.bank.T - target.exp()).norm()))
    assert residuals[1] < 0.5 * residuals[0]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """A real utterance from flite's rms voice (16 kHz)."""
    path = tmp_path_factory.mktemp("gl") / "rms.wav"
    text = "Seven wizards quietly hex the jovial judge."
    subprocess.run(["flite", "-voice", "rms", "-t", text, "-o", str(path)], check=True)
    return path


@pytest.mark.parametrize("name", PRESETS)
def test_speech_log_mel_comes_back(name, speech):
    cfg = get_mel_preset(name)
    wav = torch.from_numpy(load_audio(speech, cfg.sample_rate).wav)[None]  # (1, s)
    mel = MelSpectrogram(cfg)
    log_mel = mel(wav).transpose(1, 2)  # (1, n, f)
    frames = log_mel.shape[1]
    errors = {}
    for n_iter in (0, 32):
        out = GriffinLim(GriffinLimConfig(mel=cfg, n_iter=n_iter))(log_mel)
        assert out.shape == (1, num_samples(cfg, frames))
        again = mel(out).transpose(1, 2)
        assert again.shape == log_mel.shape  # same frame count as the input
        errors[n_iter] = spectral_convergence(again, log_mel)
    # measured 32 iterations: 0.06 (vocos24k), 0.08 (hifigan22k, lafma16k); 0 iterations ≈ 0.9
    assert errors[32] < 0.12
    assert errors[32] < errors[0] / 5


def test_batched_equals_one_by_one_and_random_init_is_seeded():
    cfg = GriffinLimConfig(mel="lafma16k", n_iter=4, init="random", seed=3)
    gl = GriffinLim(cfg)
    log_mel = MelSpectrogram(cfg.mel)(noise(2, 3200)).transpose(1, 2)  # (2, n, f)
    both = gl(log_mel)
    singles = torch.cat([gl(log_mel[:1]), GriffinLim(cfg)(log_mel[1:])])
    assert (both - singles).abs().max() < 1e-5
    other = GriffinLim(GriffinLimConfig(mel="lafma16k", n_iter=4, init="random", seed=4))
    assert (other(log_mel) - both).abs().max() > 1e-3


def test_no_weights_config_round_trip_and_errors():
    gl = GriffinLim(GriffinLimConfig(mel="hifigan22k"))
    assert gl.state_dict() == {} and list(gl.parameters()) == []
    data = gl.config.to_dict()
    assert GriffinLimConfig.from_dict(data) == gl.config
    with pytest.raises(FlowvoxError, match="unknown keys"):
        GriffinLimConfig.from_dict({**data, "iters": 3})
    with pytest.raises(FlowvoxError, match="init"):
        GriffinLimConfig(init="noise")
    with pytest.raises(FlowvoxError, match=r"\(batch, frames, 80\)"):
        gl(torch.zeros(1, 80, 10))
