"""flowvox Vocos on its own: blocks against explicit formulas, shapes, release-format loading."""

import math

import pytest
import torch
import yaml
from torch import nn

from flowvox.audio.mel import get_mel_preset, mel_filter_bank
from flowvox.errors import FlowvoxError
from flowvox.nn.convnext import ConvNeXtBlock, conv1d_channels_last
from flowvox.vocoders.vocos.model import Vocos, VocosConfig, overlap_add, window_envelope
from flowvox.vocoders.vocos.release import config_from_release, load_vocos_release

TINY = dict(dim=32, hidden_dim=48, num_layers=2)


def tiny(padding: str = "center", seed: int = 0) -> Vocos:
    """A tiny Vocos with every parameter (biases, norms, γ) away from its initial value."""
    torch.manual_seed(seed)
    model = Vocos(VocosConfig(padding=padding, **TINY)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def random_mel(b: int, n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, 100, generator=g) - 5.0  # (b, n, f)


def test_conv1d_channels_last_equals_conv1d() -> None:
    torch.manual_seed(0)
    for conv in (nn.Conv1d(8, 8, 7, padding=3, groups=8), nn.Conv1d(5, 12, 7, padding=3)):
        x = torch.randn(3, 20, conv.in_channels)  # (b, n, d)
        expected = conv(x.transpose(1, 2)).transpose(1, 2)
        got = conv1d_channels_last(x, conv)
        assert got.is_contiguous()
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_convnext_block_formula() -> None:
    torch.manual_seed(0)
    block = ConvNeXtBlock(dim=6, hidden_dim=10, layer_scale_init=0.3)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    x = torch.randn(2, 9, 6)  # (b, n, d)
    # written out by hand: zero-padded depthwise conv, LayerNorm, MLP with exact GELU, γ
    w, bias = block.dwconv.weight[:, 0], block.dwconv.bias  # (d, k), (d,)
    padded = torch.nn.functional.pad(x, (0, 0, 3, 3))
    conv = sum(padded[:, k : k + 9] * w[:, k] for k in range(7)) + bias
    mu, var = conv.mean(-1, keepdim=True), conv.var(-1, unbiased=False, keepdim=True)
    normed = (conv - mu) / torch.sqrt(var + 1e-6) * block.norm.weight + block.norm.bias
    h = normed @ block.pwconv1.weight.T + block.pwconv1.bias
    h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
    h = h @ block.pwconv2.weight.T + block.pwconv2.bias
    torch.testing.assert_close(block(x), x + block.gamma * h, atol=1e-5, rtol=1e-5)
    assert ConvNeXtBlock(dim=6, hidden_dim=10).gamma is None


def test_overlap_add_matches_torch_istft_center() -> None:
    """The center head is torch.istft(center=True) written as irfft + overlap-add."""
    torch.manual_seed(0)
    model = tiny("center")
    x = torch.randn(2, 30, TINY["dim"])  # (b, n, d)
    log_mag, phase = model.head.out(x).chunk(2, dim=-1)
    spec = torch.polar(log_mag.exp().clamp(max=100), phase).transpose(1, 2)  # (b, c, n)
    expected = torch.istft(spec, 1024, 256, 1024, torch.hann_window(1024), center=True)
    torch.testing.assert_close(model.head(x), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "taps, hop, frames", [(1024, 256, 1), (1024, 256, 50), (5, 2, 3), (9, 4, 6)]
)
def test_window_envelope_equals_overlap_added_squares(taps: int, hop: int, frames: int) -> None:
    window = torch.hann_window(taps)
    expected = overlap_add(window.square().expand(1, frames, -1), hop)[0]
    got = window_envelope(window, hop, frames)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


def test_batched_decode_equals_one_by_one() -> None:
    """The inference path treats batch items independently (no cross-item leakage)."""
    model = tiny("center")
    mel = random_mel(3, 25)
    with torch.inference_mode():
        together = model(mel)
        alone = torch.cat([model(mel[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_overlap_add_uneven_hop() -> None:
    frames = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5)  # w=5, hop=2
    expected = torch.zeros(2, 2 * 2 + 5)
    for t in range(3):
        expected[:, 2 * t : 2 * t + 5] += frames[:, t]
    torch.testing.assert_close(overlap_add(frames, 2), expected)


@pytest.mark.parametrize("padding, samples", [("center", 19 * 256), ("same", 20 * 256)])
def test_output_length(padding: str, samples: int) -> None:
    model = tiny(padding)
    with torch.inference_mode():
        wav = model(random_mel(2, 20))
    assert wav.shape == (2, samples) == (2, model.config.num_samples(20))
    assert torch.isfinite(wav).all()


def test_batch_consistency() -> None:
    """An item's waveform does not depend on the other items of its batch."""
    model = tiny("same")
    mel = random_mel(3, 25)
    with torch.inference_mode():
        batch = model(mel)
        for i in range(3):
            torch.testing.assert_close(batch[i], model(mel[i : i + 1])[0], atol=1e-5, rtol=1e-4)


def test_input_layout_error_names_the_fix() -> None:
    with pytest.raises(FlowvoxError, match="transpose"):
        tiny()(random_mel(1, 20).transpose(1, 2))


def test_config_round_trip_and_errors() -> None:
    config = VocosConfig(padding="same", **TINY)
    assert VocosConfig.from_dict(config.to_dict()) == config
    assert VocosConfig(mel="vocos24k").mel == get_mel_preset("vocos24k")
    with pytest.raises(FlowvoxError, match="unknown keys"):
        VocosConfig.from_dict({"depth": 3})
    with pytest.raises(FlowvoxError, match="padding"):
        VocosConfig(padding="valid")
    with pytest.raises(FlowvoxError, match="n_fft"):
        VocosConfig(n_fft=256)


# ---- released format: config.yaml + pytorch_model.bin, written here from a flowvox model


def release_yaml(padding: str = "center", **backbone) -> dict:
    """The config.yaml of vocos-mel-24khz (optionally resized / with another head padding)."""
    args = dict(input_channels=100, dim=512, intermediate_dim=1536, num_layers=8)
    args.update(backbone)
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": dict(
                sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, padding="center"
            ),
        },
        "backbone": {"class_path": "vocos.models.VocosBackbone", "init_args": args},
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": dict(dim=args["dim"], n_fft=1024, hop_length=256, padding=padding),
        },
    }


def write_release(folder, model: Vocos, data: dict, drop=(), add=None) -> None:
    """A release-style checkpoint: flowvox keys plus the derived buffers vocos saves."""
    state = dict(model.state_dict())
    state["head.istft.window"] = torch.hann_window(1024)
    state["feature_extractor.mel_spec.spectrogram.window"] = torch.hann_window(1024)
    state["feature_extractor.mel_spec.mel_scale.fb"] = mel_filter_bank(model.config.mel).T
    for key in drop:
        del state[key]
    state.update(add or {})
    folder.mkdir(exist_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "config.yaml").write_text(yaml.safe_dump(data))


def tiny_release_yaml(padding: str = "center") -> dict:
    return release_yaml(padding, dim=32, intermediate_dim=48, num_layers=2)


@pytest.mark.parametrize("padding", ["center", "same"])
def test_release_load_reproduces_model(tmp_path, padding: str) -> None:
    model = tiny(padding)
    write_release(tmp_path, model, tiny_release_yaml(padding))
    loaded = load_vocos_release(tmp_path)
    assert loaded.config == model.config
    assert loaded.config.mel == get_mel_preset("vocos24k")
    mel = random_mel(2, 16)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(mel), model(mel), atol=0, rtol=0)
    # the same through the two-file form
    again = load_vocos_release(tmp_path / "config.yaml", tmp_path / "pytorch_model.bin")
    assert again.config == model.config


def test_release_config_of_the_24khz_model() -> None:
    config = config_from_release(release_yaml())
    assert config == VocosConfig()  # the defaults are the released model
    assert config.padding == "center" and config.mel.name == "vocos24k"
    assert sum(p.numel() for p in Vocos(config).parameters()) == 13_531_650


def test_release_missing_and_unexpected_keys(tmp_path) -> None:
    model = tiny()
    extra = {"backbone.extra.weight": torch.zeros(3)}
    write_release(tmp_path, model, tiny_release_yaml(), drop=["head.out.bias"], add=extra)
    with pytest.raises(FlowvoxError) as error:
        load_vocos_release(tmp_path)
    message = str(error.value)
    assert "missing 1: head.out.bias" in message
    assert "unexpected 1: backbone.extra.weight" in message


def test_release_wrong_size_and_wrong_filters(tmp_path) -> None:
    write_release(tmp_path, tiny(), release_yaml(dim=32, intermediate_dim=64, num_layers=2))
    with pytest.raises(
        FlowvoxError, match=r"wrong shape 6: backbone\.convnext\.0\.pwconv1\.weight"
    ):
        load_vocos_release(tmp_path)
    bad_fb = {"feature_extractor.mel_spec.mel_scale.fb": torch.zeros(513, 100)}
    write_release(tmp_path, tiny(), tiny_release_yaml(), add=bad_fb)
    with pytest.raises(FlowvoxError, match="mel_scale.fb does not match"):
        load_vocos_release(tmp_path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["backbone"]["init_args"].update(adanorm_num_embeddings=4), "AdaLayerNorm"),
        (lambda d: d["backbone"]["init_args"].update(depth=3), r"unsupported backbone options"),
        (lambda d: d.update(optimizer={}), "top-level keys"),
        (
            lambda d: d["feature_extractor"].update(
                class_path="vocos.feature_extractors.EncodecFeatures"
            ),
            "not supported",
        ),
        (lambda d: d["head"]["init_args"].update(hop_length=128), "hop_length 128"),
    ],
)
def test_release_unsupported_config(tmp_path, edit, message: str) -> None:
    data = tiny_release_yaml()
    edit(data)
    write_release(tmp_path, tiny(), data)
    with pytest.raises(FlowvoxError, match=message):
        load_vocos_release(tmp_path)


def test_release_refuses_pickled_objects(tmp_path) -> None:
    write_release(tmp_path, tiny(), tiny_release_yaml())
    torch.save({"head.out.bias": torch.zeros(3), "note": object()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(FlowvoxError, match="not a plain tensor state dict"):
        load_vocos_release(tmp_path)
    with pytest.raises(FlowvoxError, match="not found"):
        load_vocos_release(tmp_path / "missing")


def test_cli_convert_vocos_release(tmp_path, capsys) -> None:
    from flowvox.cli.main import main
    from flowvox.vocoders import load_vocoder

    model = tiny("center")
    write_release(tmp_path / "release", model, tiny_release_yaml("center"))
    out = tmp_path / "vocos"
    assert main(["convert", "vocos", str(tmp_path / "release"), str(out)]) == 0
    assert "mel vocos24k" in capsys.readouterr().out
    mel = random_mel(1, 12)
    with torch.inference_mode():
        torch.testing.assert_close(load_vocoder(out)(mel), model(mel), atol=0, rtol=0)
    assert main(["convert", "vocos", str(tmp_path / "release"), str(out)]) == 2
    assert main(["convert", "vocos", str(tmp_path / "nowhere"), str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
