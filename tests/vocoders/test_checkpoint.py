"""Vocoder directories (model.safetensors + config.json): round trip, contents, errors."""

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file

from flowvox.audio.mel import get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.vocoders.hifigan import HiFiGAN
from flowvox.vocoders.io import (
    VOCODER_FAMILIES,
    load_vocoder,
    load_vocoder_config,
    save_vocoder,
)
from flowvox.vocoders.vocos.model import Vocos, VocosConfig


def tiny_vocos(seed: int = 0) -> Vocos:
    torch.manual_seed(seed)
    model = Vocos(VocosConfig(dim=32, hidden_dim=48, num_layers=2, padding="same")).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def test_round_trip_gives_identical_output(tmp_path) -> None:
    model = tiny_vocos()
    save_vocoder(tmp_path / "voc", model)
    loaded = load_vocoder(tmp_path / "voc")
    assert isinstance(loaded, Vocos) and not loaded.training
    assert loaded.config == model.config
    mel = torch.randn(2, 17, 100) - 5.0  # (b, n, f)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(mel), model(mel), atol=0, rtol=0)


def test_directory_contents(tmp_path) -> None:
    model = tiny_vocos()
    save_vocoder(tmp_path, model)
    payload = json.loads((tmp_path / "config.json").read_text())
    assert payload["family"] == "vocos"
    assert payload["config"]["mel"] == get_mel_preset("vocos24k").to_dict()
    assert payload["config"]["num_layers"] == 2
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(model.state_dict())
    assert load_vocoder_config(tmp_path) == model.config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_mel_contract(tmp_path) -> None:
    save_vocoder(tmp_path, tiny_vocos())
    load_vocoder(tmp_path, expect_mel=get_mel_preset("vocos24k"))  # same preset: fine
    with pytest.raises(FlowvoxError, match="'hifigan22k'.*'vocos24k'"):
        load_vocoder(tmp_path, expect_mel=get_mel_preset("hifigan22k"))
    tweaked = replace(get_mel_preset("vocos24k"), name="mine", f_max=8000.0)
    with pytest.raises(FlowvoxError, match="f_max: 8000.0 vs None"):
        load_vocoder(tmp_path, expect_mel=tweaked)


def test_weights_that_do_not_fit(tmp_path) -> None:
    model = tiny_vocos()
    save_vocoder(tmp_path, model)
    state = {k: v.clone() for k, v in model.state_dict().items() if k != "head.out.weight"}
    state["head.extra"] = torch.zeros(2)
    save_file(state, str(tmp_path / "model.safetensors"))
    expected = r"missing 1: head\.out\.weight; unexpected 1: head\.extra"
    with pytest.raises(FlowvoxError, match=expected):
        load_vocoder(tmp_path)


def test_unusable_directories(tmp_path) -> None:
    with pytest.raises(FlowvoxError, match="no config.json"):
        load_vocoder(tmp_path)
    (tmp_path / "config.yaml").write_text("backbone: {}\n")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(FlowvoxError, match="load_vocos_release"):
        load_vocoder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"family": "wavenet", "config": {}}))
    with pytest.raises(FlowvoxError, match="unknown family 'wavenet'"):
        load_vocoder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"family": "vocos", "config": {}}))
    with pytest.raises(FlowvoxError, match="no model.safetensors"):
        load_vocoder(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(FlowvoxError, match="not valid JSON"):
        load_vocoder(tmp_path)


def test_unregistered_config_type(tmp_path) -> None:
    class Other:
        mel = get_mel_preset("vocos24k")

    with pytest.raises(FlowvoxError, match="no vocoder family"):
        save_vocoder(tmp_path, tiny_vocos(), Other())
    assert VOCODER_FAMILIES["vocos"] is Vocos and Vocos.config_class is VocosConfig
    with pytest.raises(TypeError):
        VOCODER_FAMILIES["other"] = Vocos  # read-only: no module-level mutable state


def test_vocoders_save_and_load_themselves(tmp_path) -> None:
    model = tiny_vocos()
    folder = model.save_pretrained(tmp_path / "v")
    again = Vocos.from_pretrained(folder)
    assert type(again) is Vocos and not again.training and again.config == model.config
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    )
    with pytest.raises(FlowvoxError, match="family 'vocos' is not 'hifigan'"):
        HiFiGAN.from_pretrained(folder)
    other_mel = get_mel_preset("hifigan22k")
    with pytest.raises(FlowvoxError, match="hifigan22k|sample_rate"):
        Vocos.from_pretrained(folder, expect_mel=other_mel)
