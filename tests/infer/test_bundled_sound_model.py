"""The bundled sound model, flowvox/sound_model/: packed within the size limit, answers
`flowvox sound` with no flags. How well its sounds follow their captions is measured by
`flowvox eval sound` (README), not asserted here: the CPU-trained model is not good yet."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flowvox.audio.io import load_audio
from flowvox.cli.main import main
from flowvox.infer.sound import BUNDLED_SOUND_DIR, SoundGenerator
from flowvox.vocoders.griffin_lim import GriffinLim


@pytest.fixture(scope="module")
def generator() -> SoundGenerator:
    return SoundGenerator.from_pretrained()


def test_the_bundled_folder_holds_model_and_vae_within_20_mb(generator):
    names = sorted(p.name for p in BUNDLED_SOUND_DIR.iterdir())
    assert names == ["config.json", "model.safetensors", "vae"]
    config = json.loads((BUNDLED_SOUND_DIR / "config.json").read_text())
    assert config["family"] == "tta" and config["default_seconds"] == pytest.approx(10.24)
    # Griffin-Lim on the VAE's mel (see scripts/build_sound_model.sh for why)
    assert config["vocoder"] == "griffin-lim"
    assert isinstance(generator.vocoder, GriffinLim)
    size = sum(p.stat().st_size for p in BUNDLED_SOUND_DIR.rglob("*") if p.is_file())
    assert size <= 20 * 2**20


def test_flowvox_sound_with_no_flags_writes_the_default_length(tmp_path):
    out = tmp_path / "beeps.wav"
    assert main(["sound", "three short high beeps, then a man speaks", "-o", str(out)]) == 0
    clip = load_audio(out)
    assert clip.sample_rate == 16000 and len(clip.wav) == 1024 * 160  # 10.24 s
    # finite samples in range; not "not silence": with a random seed this model often makes
    # near-silence (peak 1.2e-4 seen), as the README's figures say
    assert np.isfinite(clip.wav).all() and float(np.abs(clip.wav).max()) <= 1.0
