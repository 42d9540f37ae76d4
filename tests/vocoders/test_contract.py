"""The mel contract: pairing checks, Griffin-Lim for any mel, resolve_vocoder."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from flowvox.audio.mel import MelSpectrogram, get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.vocoders import (
    GriffinLim,
    HiFiGAN,
    HiFiGANConfig,
    Vocos,
    VocosConfig,
    check_vocoder_pairing,
    griffin_lim_vocoder,
    load_vocoder,
    resolve_vocoder,
    save_vocoder,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_vocos() -> Vocos:
    torch.manual_seed(0)
    return Vocos(VocosConfig(dim=32, hidden_dim=48, num_layers=2)).eval()


def tiny_hifigan() -> HiFiGAN:
    torch.manual_seed(0)
    config = HiFiGANConfig(
        resblock="2",
        upsample_rates=(8, 8, 4),
        upsample_kernel_sizes=(16, 16, 8),
        upsample_initial_channel=32,
        resblock_kernel_sizes=(3,),
        resblock_dilation_sizes=((1, 3),),
    )
    return HiFiGAN(config).eval()


def test_mismatched_presets_are_refused_naming_both_sides_and_fields():
    vocos24k, hifigan22k = get_mel_preset("vocos24k"), get_mel_preset("hifigan22k")
    with pytest.raises(FlowvoxError) as err:
        check_vocoder_pairing(vocos24k, hifigan22k, "model runs/f5", "vocoder runs/hifigan")
    message = str(err.value)
    assert "\n" not in message
    for part in ("model runs/f5", "'vocos24k'", "vocoder runs/hifigan", "'hifigan22k'"):
        assert part in message
    assert "sample_rate: 24000 vs 22050" in message and "n_mels: 100 vs 80" in message
    assert "hop_length" not in message  # equal fields are not listed


def test_equal_mels_pair_even_under_another_name():
    mel = get_mel_preset("vocos24k")
    check_vocoder_pairing(mel, mel, "a", "b")
    check_vocoder_pairing(mel, replace(mel, name="my24k"), "a", "b")
    with pytest.raises(FlowvoxError, match="log_floor: 1e-05 vs 1e-07"):
        check_vocoder_pairing(mel, replace(mel, log_floor=1e-7), "a", "b")


def test_load_vocoder_checks_the_acoustic_mel(tmp_path):
    save_vocoder(tmp_path / "hifi", tiny_hifigan())
    assert isinstance(load_vocoder(tmp_path / "hifi", get_mel_preset("hifigan22k")), HiFiGAN)
    with pytest.raises(
        FlowvoxError, match=r"model X uses mel preset 'vocos24k' but vocoder .*hifi"
    ):
        load_vocoder(tmp_path / "hifi", get_mel_preset("vocos24k"), acoustic_name="model X")


@pytest.mark.parametrize("preset", ["vocos24k", "hifigan22k", "lafma16k"])
def test_griffin_lim_is_a_vocoder_for_any_mel(preset):
    mel_cfg = get_mel_preset(preset)
    vocoder = resolve_vocoder(None, mel_cfg)
    assert isinstance(vocoder, GriffinLim) and vocoder.config.mel == mel_cfg
    assert isinstance(resolve_vocoder("griffin-lim", mel_cfg), GriffinLim)
    t = torch.arange(12 * mel_cfg.hop_length) / mel_cfg.sample_rate
    wav = (0.3 * torch.sin(2 * torch.pi * 220 * t))[None]  # (1, s)
    log_mel = MelSpectrogram(mel_cfg)(wav).transpose(1, 2)  # (1, n, f)
    out = griffin_lim_vocoder(preset, n_iter=4, nnls_iter=4)(log_mel)
    assert out.dim() == 2 and out.shape[0] == 1 and torch.isfinite(out).all()
    frames = MelSpectrogram(mel_cfg)(out).shape[-1]
    assert frames == log_mel.shape[1]  # same framing: mel -> wav -> mel keeps the length


def test_resolve_vocoder_modules_and_directories(tmp_path):
    vocos24k = get_mel_preset("vocos24k")
    model = tiny_vocos()
    assert resolve_vocoder(model, vocos24k) is model
    with pytest.raises(FlowvoxError, match="'vocos24k' but HiFiGAN uses 'hifigan22k'"):
        resolve_vocoder(tiny_hifigan(), vocos24k)
    save_vocoder(tmp_path / "voc", model)
    loaded = resolve_vocoder(tmp_path / "voc", vocos24k)
    mel = torch.randn(1, 9, 100) - 4.0
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel), model(mel))
    with pytest.raises(FlowvoxError, match="no such directory"):
        resolve_vocoder(tmp_path / "missing", vocos24k)
    # a Griffin-Lim "vocoder directory" (no weights) round-trips too
    save_vocoder(tmp_path / "gl", griffin_lim_vocoder("hifigan22k"))
    assert isinstance(load_vocoder(tmp_path / "gl", get_mel_preset("hifigan22k")), GriffinLim)
