"""SoundGenerator (latent text-to-audio): lengths and rate, seeds, batch independence, the
documented cfg weights, the folder layout, and every refusal as a one-line FlowvoxError."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.infer import sound as sound_module
from flowvox.infer.sound import SoundGenerator
from flowvox.models.tta.config import LatentFlowConfig
from flowvox.models.tta.model import LatentFlow
from flowvox.models.tta.vae import MelVAE
from flowvox.models.tta.vae_config import MelVAEConfig
from flowvox.vocoders import HiFiGAN, HiFiGANConfig

from .helpers import tiny_model_dir

SR = 16000
MAX_SECONDS = 4.0


def _randomize(module: torch.nn.Module, seed: int, std: float) -> torch.nn.Module:
    """Every weight random (the zero-initialised output layers too): outputs follow inputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return module.eval()


def tiny_hifigan(mel: str = "lafma16k") -> HiFiGAN:
    """A ~20k-parameter HiFi-GAN for ``mel`` (hop 160: 8·5·4; hop 256: 8·8·4)."""
    rates, kernels = ((8, 5, 4), (16, 11, 8)) if mel == "lafma16k" else ((8, 8, 4), (16, 16, 8))
    config = HiFiGANConfig(
        mel=mel, upsample_rates=rates, upsample_kernel_sizes=kernels, upsample_initial_channel=32,
        resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1,),),
    )  # fmt: skip
    vocoder = _randomize(HiFiGAN(config), 7, 0.3)
    with torch.no_grad():  # unit-norm weight rows, no biases: the wave follows the mel
        for name, p in vocoder.named_parameters():
            if name.endswith("bias") or name.endswith("original0"):
                p.fill_(0.0 if name.endswith("bias") else 1.0)
    return vocoder


def tiny_sound_folder(
    folder: Path, vocoder: str | None = "lafma16k", vae_channels: int = 8, seed: int = 0
) -> Path:
    """A random tiny sound model: LatentFlow "tiny" + vae/ (MelVAE "tiny") + vocoder/ (a tiny
    HiFi-GAN for the mel ``vocoder``, or none); max_seconds 4, default_seconds 0.64."""
    model = LatentFlow(LatentFlowConfig.preset("tiny").replace(text_vocab_size=256))
    _randomize(model, seed, 0.2).save_pretrained(
        folder, extra={"default_seconds": 0.64, "max_seconds": MAX_SECONDS}
    )
    vae = MelVAE(MelVAEConfig.preset("tiny").replace(latent_channels=vae_channels))
    _randomize(vae, seed + 1, 0.1).save_pretrained(folder / "vae")
    if vocoder is not None:
        tiny_hifigan(vocoder).save_pretrained(folder / "vocoder")
    return folder


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |a|: the random tiny chain is quiet, so compare relatively."""
    return float(np.abs(a - b).max() / np.abs(a).max())


@pytest.fixture(scope="module")
def sound_dir(tmp_path_factory) -> Path:
    return tiny_sound_folder(tmp_path_factory.mktemp("sound") / "model")


@pytest.fixture(scope="module")
def gen(sound_dir) -> SoundGenerator:
    return SoundGenerator.from_pretrained(sound_dir)


@pytest.mark.parametrize(("seconds", "samples"), [(1.0, 16000), (0.5, 7680), (None, 10240)])
def test_generate_gives_the_rounded_length_at_16k(gen, seconds, samples):
    wav, sr = gen.generate("a dog barks twice", seconds=seconds, steps=2, seed=0)
    assert sr == SR and wav.dtype == np.float32 and wav.shape == (samples,)
    assert np.isfinite(wav).all() and np.abs(wav).max() <= 1.0 and np.abs(wav).max() > 0


def test_same_seed_same_sound_and_another_seed_another(gen):
    a = gen.generate("rain on a tin roof", seconds=0.4, steps=2, seed=3)
    b = gen.generate("rain on a tin roof", seconds=0.4, steps=2, seed=3)
    c = gen.generate("rain on a tin roof", seconds=0.4, steps=2, seed=4)
    assert a.seed == 3 and np.array_equal(a.wav, b.wav)
    assert rel_diff(a.wav, c.wav) > 0.1
    drawn = gen.generate("rain on a tin roof", seconds=0.4, steps=2)
    assert isinstance(drawn.seed, int)  # the drawn seed is reported
    again = gen.generate("rain on a tin roof", seconds=0.4, steps=2, seed=drawn.seed)
    assert np.array_equal(drawn.wav, again.wav)


def test_a_batch_row_is_the_sound_it_gets_alone(gen):
    captions = ["a dog barks twice", "a long and rather wordy caption about rain", "bell"]
    batch = gen.generate_batch(captions, seconds=0.4, steps=3, seed=10)
    assert [s.seed for s in batch] == [10, 11, 12]
    for caption, row, seed in zip(captions, batch, (10, 11, 12), strict=True):
        alone = gen.generate(caption, seconds=0.4, steps=3, seed=seed)
        assert rel_diff(row.wav, alone.wav) < 1e-4
    reseeded = gen.generate_batch(captions[::-1], seconds=0.4, steps=3, seeds=[12, 11, 10])
    assert rel_diff(reseeded[0].wav, batch[2].wav) < 1e-4


def test_cfg_zero_ignores_the_caption_and_cfg_changes_the_sound(gen):
    def make(caption, cfg):
        return gen.generate(caption, seconds=0.4, steps=2, cfg=cfg, seed=1).wav

    assert rel_diff(make("a dog barks", 0.0), make("rain falls", 0.0)) < 1e-5
    assert rel_diff(make("a dog barks", 1.0), make("rain falls", 1.0)) > 5e-3
    assert rel_diff(make("a dog barks", 1.0), make("a dog barks", 3.0)) > 1e-2


def test_times_are_split_by_stage(gen):
    sound = gen.generate("a bell", seconds=0.4, steps=2, seed=0)
    t = sound.times
    assert min(t.flow, t.vae, t.vocoder) >= 0 and t.total == t.flow + t.vae + t.vocoder > 0
    assert "RTF" in t.summary(sound.seconds) and "vocoder" in t.summary(sound.seconds)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (dict(caption=""), "is empty"),
        (dict(caption=" \n\t "), "is empty"),
        (dict(caption="!!! ... ???"), "nothing readable"),
        (dict(caption="\x00\x01"), "nothing readable"),
        (dict(seconds=0), "seconds=0"),
        (dict(seconds=-1.0), "seconds=-1.0"),
        (dict(seconds=float("nan")), "seconds=nan"),
        (dict(seconds=MAX_SECONDS + 0.5), "at most 4 s"),
        (dict(steps=0), "steps=0"),
        (dict(cfg=-0.5), "cfg=-0.5"),
    ],
    ids=["empty", "blank", "punctuation", "control", "s0", "s-neg", "s-nan", "too-long",
         "steps0", "cfg-neg"],
)  # fmt: skip
def test_bad_inputs_are_one_line_errors(gen, kwargs, fragment):
    args = dict(caption="a dog barks", seconds=0.4, steps=2, cfg=3.0, seed=0) | kwargs
    with pytest.raises(FlowvoxError) as err:
        gen.generate(**args)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_vae_and_vocoder_of_different_mels_are_refused(tmp_path):
    folder = tiny_sound_folder(tmp_path / "m", vocoder="hifigan22k")
    with pytest.raises(FlowvoxError, match="mel mismatch.*lafma16k.*hifigan22k"):
        SoundGenerator.from_pretrained(folder)


def test_a_vae_of_another_latent_shape_is_refused(tmp_path):
    folder = tiny_sound_folder(tmp_path / "m", vae_channels=4)
    with pytest.raises(FlowvoxError, match=r"latents \(4, T, 16\).*\(8, T, 16\)"):
        SoundGenerator.from_pretrained(folder)


def test_a_speech_model_folder_is_refused_naming_its_family(tmp_path):
    folder = tiny_model_dir(tmp_path / "speech")
    with pytest.raises(FlowvoxError, match="infill_tts.*not a sound model.*flowvox speak"):
        SoundGenerator.from_pretrained(folder)


def test_a_folder_without_vae_is_refused(tmp_path, sound_dir):
    folder = tmp_path / "m"
    shutil.copytree(sound_dir, folder)
    shutil.rmtree(folder / "vae")
    with pytest.raises(FlowvoxError, match="no vae/ folder"):
        SoundGenerator.from_pretrained(folder)


def test_config_json_may_name_vae_and_vocoder_elsewhere(tmp_path, sound_dir, gen):
    folder = tmp_path / "m"
    shutil.copytree(sound_dir, folder)
    (folder / "vae").rename(tmp_path / "shared-vae")
    (folder / "vocoder").rename(tmp_path / "shared-vocoder")
    config = json.loads((folder / "config.json").read_text())
    config.update(vae="../shared-vae", vocoder="../shared-vocoder")
    (folder / "config.json").write_text(json.dumps(config))
    moved = SoundGenerator.from_pretrained(folder)
    a = moved.generate("a dog barks", seconds=0.4, steps=2, seed=0).wav
    assert rel_diff(a, gen.generate("a dog barks", seconds=0.4, steps=2, seed=0).wav) < 1e-5


def test_no_vocoder_means_griffin_lim_with_a_warning(tmp_path, caplog):
    folder = tiny_sound_folder(tmp_path / "m", vocoder=None)
    with caplog.at_level(logging.WARNING, logger="flowvox"):
        gen = SoundGenerator.from_pretrained(folder)
    assert "Griffin-Lim" in caplog.text
    wav, sr = gen.generate("a dog barks", seconds=0.4, steps=1, seed=0)
    assert sr == SR and wav.shape == (6400,)


def test_no_bundled_sound_model_yet_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(sound_module, "BUNDLED_SOUND_DIR", tmp_path / "absent")
    with pytest.raises(FlowvoxError, match="no sound model is bundled.*--model DIR"):
        SoundGenerator.from_pretrained()
