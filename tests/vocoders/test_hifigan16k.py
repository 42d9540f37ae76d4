"""HiFi-GAN stages with an odd kernel − rate (AudioLDM's u = 5, k = 16) and the 16 kHz
lafma16k presets: exact output lengths, the cropped output equal to the full one's head,
and a training run of configs/vocoder-hifigan16k-tiny.yaml."""
# b: batch, n: mel frames, f: mel bins, d: channels, s: samples

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.train import Trainer, run_config_from_dict
from flowvox.utils.config import read_yaml
from flowvox.vocoders import load_vocoder
from flowvox.vocoders.hifigan import HiFiGAN, HiFiGANConfig

REPO = Path(__file__).resolve().parents[2]


def small_config(**fields) -> HiFiGANConfig:
    spec = dict(
        resblock="2",
        upsample_initial_channel=32,
        resblock_kernel_sizes=(3,),
        resblock_dilation_sizes=((1, 3),),
    )
    return HiFiGANConfig.from_dict(
        {**HiFiGANConfig.preset("audioldm16k").to_dict(), **spec, **fields}
    )


@pytest.mark.parametrize("n", [1, 2, 7])
def test_an_odd_stage_gives_n_u_plus_one_samples(n):
    config = small_config()
    model = HiFiGAN(config)
    x = torch.randn(1, 32, n)  # (b, d, n)
    assert model.ups[0](x).shape[-1] == 5 * n + 1  # u = 5, k = 16: k − u odd
    assert model.ups[1](torch.randn(1, 16, 9)).shape[-1] == 4 * 9  # u = 4, k = 16: even


@pytest.mark.parametrize(
    ("rates", "kernels", "extra"),
    [
        ((5, 4, 2, 2, 2), (16, 16, 8, 4, 4), 32),  # AudioLDM: 1 after stage 1, then ×32
        ((5, 4, 2, 2, 2), (15, 16, 8, 4, 4), 0),  # every k − u even
        ((5, 4, 2, 2, 2), (16, 16, 8, 4, 5), 33),  # 32, then one more at the last stage
        ((10, 4, 4), (21, 9, 8), 20),  # ((0·10 + 1)·4 + 1)·4 + 0
    ],
)
def test_full_output_is_n_hop_plus_extra_and_forward_keeps_its_head(rates, kernels, extra):
    config = small_config(upsample_rates=rates, upsample_kernel_sizes=kernels)
    assert config.extra_samples == extra
    torch.manual_seed(0)
    model = HiFiGAN(config).eval()
    mel = torch.randn(2, 6, 64)  # (b, n, f)
    with torch.no_grad():
        full = model.forward_full(mel)
        wav = model(mel)
    assert full.shape == (2, 6 * 160 + config.extra_samples)
    assert wav.shape == (2, 6 * 160)
    torch.testing.assert_close(wav, full[:, : 6 * 160], rtol=0, atol=0)


def test_audioldm_extra_is_32_and_kernels_shorter_than_rates_are_refused():
    assert HiFiGANConfig.preset("audioldm16k").extra_samples == 32
    assert HiFiGANConfig.preset("v1").extra_samples == 0
    with pytest.raises(FlowvoxError, match="shorter than its rate 5"):
        small_config(upsample_kernel_sizes=(4, 16, 8, 4, 4))


def test_16k_presets_have_audioldm_shape_and_exact_lengths():
    big = HiFiGANConfig.preset("audioldm16k")
    assert big.mel.name == "lafma16k" and big.mel.hop_length == 160
    assert (big.upsample_rates, big.upsample_kernel_sizes) == ((5, 4, 2, 2, 2), (16, 16, 8, 4, 4))
    assert big.upsample_initial_channel == 1024
    small = HiFiGANConfig.preset("audioldm16k-small")
    model = HiFiGAN(small)
    assert sum(p.numel() for p in model.parameters()) < 1_500_000
    with torch.no_grad():
        assert model(torch.randn(1, 5, 64)).shape == (1, 5 * 160)
    assert HiFiGANConfig.preset("audioldm16k", mel="lafma16k") == big
    assert HiFiGANConfig.from_dict(json.loads(json.dumps(small.to_dict()))) == small


def test_speecht5_odd_kernels_build_a_plain_config():
    """What flowvox.models.tta.release can now do without its even stand-in."""
    config = HiFiGANConfig(
        mel="lafma16k",
        upsample_rates=(5, 4, 2, 2, 2),
        upsample_kernel_sizes=(16, 16, 8, 4, 4),
        upsample_initial_channel=32,
    )
    model = HiFiGAN(config)
    assert model.ups[0].padding == (5,)  # SpeechT5HifiGan's (k − u) // 2


def _sound_manifest(root: Path) -> Path:
    rng = np.random.default_rng(0)
    manifest = root / "manifest.jsonl"
    with manifest.open("w") as fh:
        for i, split in enumerate(["train"] * 3 + ["test"]):
            s = 16000 // 2
            wav = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * np.arange(s) / 16000)
            wav = wav + 0.01 * rng.standard_normal(s)
            sf.write(root / f"c{i}.wav", wav.astype(np.float32), 16000)
            fh.write(
                json.dumps({"audio": str(root / f"c{i}.wav"), "text": "a tone", "split": split})
            )
            fh.write("\n")
    return manifest


def test_tiny_16k_run_file_trains_and_exports(tmp_path):
    run = read_yaml(REPO / "configs/vocoder-hifigan16k-tiny.yaml")
    run["out_dir"] = str(tmp_path / "run")
    run["data"]["manifest"] = str(_sound_manifest(tmp_path))
    run["train"]["max_steps"] = 3
    run["loss"]["adversarial_start_step"] = 1
    result = Trainer(run_config_from_dict(run)).fit()
    assert result.step == 3 and not any(result.skipped.values())
    vocoder = load_vocoder(result.export_dir)
    assert isinstance(vocoder, HiFiGAN) and vocoder.config.extra_samples == 32
    with torch.no_grad():
        assert vocoder(torch.randn(1, 4, 64)).shape == (1, 640)
    assert isinstance(vocoder.ups[0], nn.ConvTranspose1d)
