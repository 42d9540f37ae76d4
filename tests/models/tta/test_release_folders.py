"""Reading AudioLDM's released parts (release.py) from folders written here in the diffusers /
transformers layouts, without those packages: key mapping, weight formats, refusals.
Equivalence with the packages themselves: test_released_parts.py (peers venv)."""
# b: batch, n: mel frames, f: mel bins

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from flowvox.errors import FlowvoxError
from flowvox.models.tta.release import (
    SpeechT5Vocoder,
    hifigan_config_from_speecht5,
    load_diffusers_vae,
    load_speecht5_hifigan,
)
from flowvox.models.tta.vae import MelVAE
from flowvox.models.tta.vae_config import MelVAEConfig
from flowvox.vocoders.hifigan import HiFiGAN

VAE_JSON = {
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "block_out_channels": [16, 32, 32],
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "in_channels": 1,
    "out_channels": 1,
    "latent_channels": 8,
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "sample_size": 512,
    "scaling_factor": 0.92,
}
VOCODER_JSON = {
    "model_in_dim": 64,
    "sampling_rate": 16000,
    "upsample_initial_channel": 64,
    "upsample_rates": [5, 4, 2, 2, 2],
    "upsample_kernel_sizes": [16, 16, 8, 4, 4],
    "resblock_kernel_sizes": [3, 7],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
    "leaky_relu_slope": 0.1,
    "normalize_before": False,
}


def random_vae() -> MelVAE:
    torch.manual_seed(0)
    model = MelVAE(MelVAEConfig.preset("tiny")).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    return model


def write_vae(folder, state, config=VAE_JSON, weights="diffusion_pytorch_model.safetensors"):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    if weights.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / weights))
    else:
        torch.save(state, folder / weights)
    return folder


@pytest.mark.parametrize("weights", ["diffusion_pytorch_model.safetensors",
                                     "diffusion_pytorch_model.bin"])  # fmt: skip
def test_diffusers_vae_folder_loads_the_same_weights(tmp_path, weights):
    model = random_vae()
    loaded = load_diffusers_vae(write_vae(tmp_path / "vae", model.state_dict(), weights=weights))
    assert loaded.config.scaling_factor == 0.92 and loaded.config.block_out_channels == (16, 32, 32)
    mel = torch.randn(1, 16, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(mel).mean, model.encode(mel).mean)


def test_old_attention_names_are_renamed(tmp_path):
    model = random_vae()
    old = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
    state = {}
    for key, value in model.state_dict().items():
        for new, was in old.items():
            key = key.replace(new, was)
        state[key] = value
    assert any(".proj_attn." in k for k in state)
    loaded = load_diffusers_vae(write_vae(tmp_path / "vae", state))
    mel = torch.randn(1, 16, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(mel).logvar, model.encode(mel).logvar)


def test_missing_scaling_factor_is_diffusers_default(tmp_path):
    config = {k: v for k, v in VAE_JSON.items() if k != "scaling_factor"}
    loaded = load_diffusers_vae(write_vae(tmp_path / "vae", random_vae().state_dict(), config))
    assert loaded.config.scaling_factor == 0.18215


@pytest.mark.parametrize(
    "change, message",
    [
        ({"down_block_types": ["AttnDownEncoderBlock2D"] * 3}, "AttnDownEncoderBlock2D"),
        ({"up_block_types": ["UpDecoderBlock2D"] * 2}, "2 up_block_types for 3"),
        ({"act_fn": "gelu"}, "act_fn='gelu'"),
        ({"mid_block_add_attention": False}, "mid_block_add_attention"),
        ({"_class_name": "VQModel"}, "VQModel"),
        ({"in_channels": 3}, "one channel"),
    ],
)
def test_unsupported_vae_configs_are_refused(tmp_path, change, message):
    folder = write_vae(tmp_path / "vae", random_vae().state_dict(), {**VAE_JSON, **change})
    with pytest.raises(FlowvoxError, match=message):
        load_diffusers_vae(folder)


def test_vae_folder_without_weights_or_with_other_weights_is_refused(tmp_path):
    folder = tmp_path / "vae"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(VAE_JSON))
    with pytest.raises(FlowvoxError, match="no weights file"):
        load_diffusers_vae(folder)
    state = random_vae().state_dict()
    del state["quant_conv.weight"]
    with pytest.raises(FlowvoxError, match="missing 1: quant_conv.weight"):
        load_diffusers_vae(write_vae(tmp_path / "vae2", state))


def speecht5_state(vocoder) -> dict[str, torch.Tensor]:
    """A SpeechT5Vocoder's weights under SpeechT5HifiGan's names."""
    state = {}
    for key, value in vocoder.state_dict().items():
        key = key.removeprefix("hifigan.").replace("ups.", "upsampler.")
        state[key] = value
    return state


def write_vocoder(folder, state, config=VOCODER_JSON):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    return folder


def test_speecht5_folder_round_trip_and_odd_kernels(tmp_path):
    torch.manual_seed(0)
    config = {**VOCODER_JSON, "normalize_before": True}
    vocoder = SpeechT5Vocoder(HiFiGAN(hifigan_config_from_speecht5(tmp_path, config)), True)
    with torch.no_grad():
        vocoder.mean.normal_()
        vocoder.scale.uniform_(0.5, 2.0)
    loaded = load_speecht5_hifigan(write_vocoder(tmp_path / "b", speecht5_state(vocoder), config))
    mel = torch.randn(2, 12, 64)
    with torch.no_grad():
        wav = loaded(mel)
        torch.testing.assert_close(wav, vocoder(mel))
    assert wav.shape == (2, 12 * 160 + 32)  # u=5, k=16: one extra sample per frame after stage 1
    assert loaded.sample_rate == 16000
    with pytest.raises(FlowvoxError, match="normalize_before=true"):
        loaded.to_hifigan()


def test_speecht5_folder_with_even_kernels_gives_a_plain_hifigan(tmp_path):
    config = {**VOCODER_JSON, "upsample_kernel_sizes": [15, 16, 8, 4, 4]}
    hifigan = HiFiGAN(hifigan_config_from_speecht5(tmp_path, config)).remove_weight_norm()
    state = speecht5_state(SpeechT5Vocoder(hifigan, False))
    loaded = load_speecht5_hifigan(write_vocoder(tmp_path / "v", state, config))
    plain = loaded.to_hifigan()
    assert plain.config.upsample_kernel_sizes == (15, 16, 8, 4, 4)
    assert plain(torch.randn(1, 5, 64)).shape == (1, 5 * 160)


@pytest.mark.parametrize(
    "change, message",
    [({"model_in_dim": 80}, "model_in_dim=80"), ({"sampling_rate": 22050}, "22050"),
     ({"upsample_rates": [8, 8, 2, 2]}, "differ in length"),
     ({"upsample_rates": [4, 4, 2, 2, 2]}, "multiply to 128")],
)  # fmt: skip
def test_unsupported_vocoder_configs_are_refused(tmp_path, change, message):
    folder = write_vocoder(tmp_path / "v", {}, {**VOCODER_JSON, **change})
    with pytest.raises(FlowvoxError, match=message):
        load_speecht5_hifigan(folder)


def test_vocoder_weights_that_do_not_fit_are_refused(tmp_path):
    with pytest.raises(FlowvoxError, match="does not match the model"):
        load_speecht5_hifigan(write_vocoder(tmp_path / "v", {"conv_pre.weight": torch.ones(1)}))
