"""pack_sound_model: fp16 weights, vae/ and vocoder/ inside, or Griffin-Lim named in the
config (no vocoder/ folder, no low-quality warning when the folder is loaded)."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from safetensors.torch import load_file

from flowvox.infer.sound import SoundGenerator
from flowvox.models.tta.pack import pack_sound_model
from flowvox.vocoders.griffin_lim import GriffinLim
from tests.infer.test_sound import tiny_sound_folder


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return tiny_sound_folder(tmp_path_factory.mktemp("parts") / "model")


def test_pack_with_a_vocoder_folder_halves_every_part(parts, tmp_path):
    out = pack_sound_model(parts, parts / "vae", parts / "vocoder", tmp_path / "packed", True, 2.56)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "model.safetensors", "vae", "vocoder",
    ]  # fmt: skip
    for part in (out, out / "vae", out / "vocoder"):
        dtypes = {v.dtype for v in load_file(part / "model.safetensors").values()}
        assert dtypes == {torch.float16}
    config = json.loads((out / "config.json").read_text())
    assert config["default_seconds"] == 2.56 and "vocoder" not in config


def test_pack_with_griffin_lim_names_it_and_loads_quietly(parts, tmp_path, caplog):
    out = pack_sound_model(parts, parts / "vae", "griffin-lim", tmp_path / "packed")
    assert not (out / "vocoder").exists()
    assert json.loads((out / "config.json").read_text())["vocoder"] == "griffin-lim"
    with caplog.at_level(logging.WARNING, logger="flowvox.infer"):
        gen = SoundGenerator.from_pretrained(out)
    assert isinstance(gen.vocoder, GriffinLim) and "Griffin-Lim" not in caplog.text
    wav, sr = gen.generate("two beeps", seconds=0.64, steps=1, seed=0)
    assert sr == 16000 and wav.shape == (10240,)  # 0.64 s
