"""HiFi-GAN: release-format loading against an independent reference, configs, errors."""

import argparse
import json

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.vocoders.hifigan import (
    HiFiGAN,
    HiFiGANConfig,
    load_hifigan_release,
    release_state_dict,
)
from tests.vocoders.hifigan_reference import build_reference

# Exact parameter counts (weight-norm g, v and biases), and the paper's rounded figures.
PARAMS = {"v1": 13_936_130, "v2": 928_514, "v3": 1_464_322}
PUBLISHED_MILLIONS = {"v1": (13.9, 1), "v2": (0.93, 2), "v3": (1.46, 2)}


def random_mel(frames: int = 12, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.randn(batch, frames, 80, generator=g) * 2.0 - 5.0  # (b, n, f) log-mel-like


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_release_checkpoint_matches_reference(version, tmp_path):
    ref = build_reference(version)
    path = tmp_path / "g_00000000"
    torch.save({"generator": ref.state_dict()}, path)
    ours = load_hifigan_release(path)  # version inferred from the weights
    mel = random_mel()
    with torch.no_grad():
        expected = ref(mel.transpose(1, 2)).squeeze(1)  # reference takes (b, f, n)
        got = ours(mel)
    assert got.shape == (2, 12 * 256)
    assert expected.std() > 0.1  # a waveform of substance, so 1e-4 means something
    assert (got - expected).abs().max() <= 1e-4
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in ref.parameters()) == PARAMS[version]
    millions, digits = PUBLISHED_MILLIONS[version]
    assert round(count / 1e6, digits) == millions


def test_release_state_dict_round_trip(tmp_path):
    ref = build_reference("v3")
    ours = load_hifigan_release(_save(tmp_path, ref.state_dict()), config="v3")
    back = release_state_dict(ours)["generator"]
    assert set(back) == set(ref.state_dict())
    assert all(torch.equal(back[k], v) for k, v in ref.state_dict().items())


def test_remove_weight_norm_keeps_output_and_loads_folded_files(tmp_path):
    model = load_hifigan_release(_save(tmp_path, build_reference("v2").state_dict()))
    mel = random_mel(frames=6)
    with torch.no_grad():
        before = model(mel)
        model.remove_weight_norm()
        after = model(mel)
    assert (before - after).abs().max() <= 1e-5
    keys = set(model.state_dict())
    assert "conv_pre.weight" in keys and not any("parametrizations" in k for k in keys)
    assert all(isinstance(p, torch.nn.Parameter) for p in model.parameters())
    folded = load_hifigan_release(_save(tmp_path, model.state_dict(), "folded"))
    with torch.no_grad():
        assert torch.equal(folded(mel), after)


def test_loader_lists_missing_and_unexpected_keys(tmp_path):
    state = build_reference("v2").state_dict()
    del state["conv_post.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(FlowvoxError, match=r"conv_post\.bias.*extra\.weight"):
        load_hifigan_release(_save(tmp_path, state), config="v2")


def test_loader_rejects_wrong_shapes_and_unsafe_files(tmp_path):
    state = build_reference("v2").state_dict()
    with pytest.raises(FlowvoxError, match="wrong shape"):  # v2 weights into a v1 body
        load_hifigan_release(_save(tmp_path, state), config="v1")
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"generator": state, "hparams": argparse.Namespace(lr=2e-4)}, unsafe)
    with pytest.raises(FlowvoxError, match="tensor-only"):
        load_hifigan_release(unsafe)
    with pytest.raises(FlowvoxError, match="no such"):
        load_hifigan_release(tmp_path / "missing.pt")


def test_presets_follow_the_published_configs():
    v3 = HiFiGANConfig.preset("v3")
    assert (v3.resblock, v3.upsample_rates, v3.upsample_kernel_sizes) == (
        "2",
        (8, 8, 4),
        (16, 16, 8),
    )
    assert v3.resblock_dilation_sizes == ((1, 2), (2, 6), (3, 12))
    assert HiFiGANConfig.preset("v2").upsample_initial_channel == 128
    assert HiFiGANConfig.preset("v1").mel.name == "hifigan22k"
    with pytest.raises(FlowvoxError, match="v1, v2, v3"):
        HiFiGANConfig.preset("v4")


def test_config_dict_round_trip_and_errors():
    cfg = HiFiGANConfig.preset("v3")
    data = json.loads(json.dumps(cfg.to_dict()))
    assert HiFiGANConfig.from_dict(data) == cfg
    assert HiFiGANConfig.from_dict({**data, "mel": "hifigan22k"}) == cfg
    with pytest.raises(FlowvoxError, match="unknown keys"):
        HiFiGANConfig.from_dict({**data, "channels": 3})
    with pytest.raises(FlowvoxError, match="hop 160"):
        HiFiGANConfig.preset("v1", mel="lafma16k")  # 8·8·2·2 = 256 ≠ 160
    with pytest.raises(FlowvoxError, match="shorter than its rate"):
        HiFiGANConfig(upsample_kernel_sizes=(7, 16, 4, 4))


def tiny_config(mel: str = "lafma16k") -> HiFiGANConfig:
    return HiFiGANConfig(
        mel=mel,
        resblock="2",
        upsample_rates=(10, 4, 4),
        upsample_kernel_sizes=(20, 8, 8),
        upsample_initial_channel=16,
        resblock_kernel_sizes=(3,),
        resblock_dilation_sizes=((1, 3),),
    )


def test_tiny_generator_shapes_and_input_check():
    model = HiFiGAN(tiny_config())  # hop 160 = 10·4·4
    wav = model(torch.randn(3, 7, 64))
    assert wav.shape == (3, 7 * 160)
    assert wav.abs().max() <= 1.0
    with pytest.raises(FlowvoxError, match=r"\(batch, frames, 64\)"):
        model(torch.randn(3, 64, 7))


def _save(tmp_path, state, name="g.pt"):
    path = tmp_path / name
    torch.save({"generator": state}, path)
    return path
