"""MelVAE (AudioLDM's AutoencoderKL over log-mels): shapes, diffusers' parameter names, the
posterior, the scaling-factor helpers, save/load and the folder stamp, bad inputs."""
# b: batch, C: latent channels, n: mel frames, f: mel bins

from __future__ import annotations

import json

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.tta.vae import MelPosterior, MelVAE, load_vae
from flowvox.models.tta.vae_config import TTA_VAE_FAMILY, MelVAEConfig


def tiny_vae(seed: int = 0, **changes) -> MelVAE:
    """The tiny preset with every weight random (norm gains and biases too)."""
    config = MelVAEConfig.preset("tiny").replace(**changes)
    torch.manual_seed(seed)
    model = MelVAE(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
    return model.eval()


@pytest.mark.slow
def test_audioldm_preset_compresses_1024_by_64_to_8_by_256_by_16():
    model = MelVAE(MelVAEConfig.preset("audioldm")).eval()
    with torch.inference_mode():
        posterior = model.encode(torch.randn(1, 1024, 64))  # 10.24 s of lafma16k mel
        assert posterior.mean.shape == posterior.logvar.shape == (1, 8, 256, 16)
        assert model.decode(torch.randn(1, 8, 16, 16)).shape == (1, 64, 64)


def test_audioldm_preset_uses_diffusers_autoencoderkl_names_and_shapes():
    state = MelVAE(MelVAEConfig.preset("audioldm")).state_dict()
    expected = {
        "encoder.conv_in.weight": (128, 1, 3, 3),
        "encoder.down_blocks.0.resnets.0.norm1.weight": (128,),
        "encoder.down_blocks.0.downsamplers.0.conv.weight": (128, 128, 3, 3),
        "encoder.down_blocks.1.resnets.0.conv_shortcut.weight": (256, 128, 1, 1),
        "encoder.mid_block.attentions.0.group_norm.weight": (512,),
        "encoder.mid_block.attentions.0.to_q.weight": (512, 512),
        "encoder.mid_block.attentions.0.to_out.0.bias": (512,),
        "encoder.mid_block.resnets.1.conv2.weight": (512, 512, 3, 3),
        "encoder.conv_norm_out.bias": (512,),
        "encoder.conv_out.weight": (16, 512, 3, 3),
        "quant_conv.weight": (16, 16, 1, 1),
        "post_quant_conv.weight": (8, 8, 1, 1),
        "decoder.conv_in.weight": (512, 8, 3, 3),
        "decoder.up_blocks.0.resnets.2.conv1.weight": (512, 512, 3, 3),
        "decoder.up_blocks.0.upsamplers.0.conv.weight": (512, 512, 3, 3),
        "decoder.up_blocks.2.resnets.0.conv_shortcut.weight": (128, 256, 1, 1),
        "decoder.conv_out.weight": (1, 128, 3, 3),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert not any("downsamplers" in k for k in state if k.startswith("encoder.down_blocks.2"))
    assert not any("upsamplers" in k for k in state if k.startswith("decoder.up_blocks.2"))
    # 2 resnets per encoder block, 3 per decoder block
    assert {k.split(".")[4] for k in state if k.startswith("encoder.down_blocks.0.resnets")} == {
        "0",
        "1",
    }
    assert "decoder.up_blocks.1.resnets.2.norm1.weight" in state


def test_tiny_round_trip_shapes_and_latent_layout():
    model = tiny_vae()
    mel = torch.randn(3, 40, 64)
    with torch.no_grad():
        posterior = model.encode(mel)
        assert posterior.mean.shape == (3, 8, 10, 16)
        assert model.decode(posterior.mode()).shape == (3, 40, 64)


def test_encode_is_per_row():
    model = tiny_vae()
    mel = torch.randn(2, 16, 64)
    with torch.no_grad():
        both = model.encode(mel).mean
        one = model.encode(mel[1:]).mean
    torch.testing.assert_close(both[1:], one, atol=1e-5, rtol=1e-5)


def test_posterior_sample_mode_and_kl():
    mean, logvar = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    posterior = MelPosterior(mean, logvar)
    a = posterior.sample(torch.Generator().manual_seed(1))
    b = posterior.sample(torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, mean + torch.exp(0.5 * logvar) * eps)
    assert torch.equal(posterior.mode(), mean)
    standard = MelPosterior(torch.zeros(2, 8, 4, 4), torch.zeros(2, 8, 4, 4))
    torch.testing.assert_close(standard.kl(), torch.zeros(2))
    expected = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).flatten(1).sum(1)
    torch.testing.assert_close(posterior.kl(), expected)
    assert (posterior.kl() > 0).all()


def test_logvar_is_clamped():
    model = tiny_vae()
    with torch.no_grad():
        model.quant_conv.bias[8:] = 1e4  # the log-variance half
        assert model.encode(torch.randn(1, 8, 64)).logvar.max() == 20.0


def test_scaling_factor_helpers():
    model = tiny_vae(scaling_factor=0.5)
    mel = torch.randn(2, 16, 64)
    with torch.no_grad():
        z = model.encode(mel).mean
        torch.testing.assert_close(model.to_latent(mel), 0.5 * z)
        torch.testing.assert_close(model.from_latent(0.5 * z), model.decode(z))
        g = torch.Generator().manual_seed(3)
        sampled = model.to_latent(mel, sample=True, generator=g)
        expected = model.encode(mel).sample(torch.Generator().manual_seed(3)) * 0.5
        torch.testing.assert_close(sampled, expected)


def test_save_and_load_round_trip(tmp_path):
    model = tiny_vae(scaling_factor=0.93)
    model.save_pretrained(tmp_path / "vae")
    record = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert record["family"] == "tta_vae" and record["format_version"] == 1
    assert record["model"]["scaling_factor"] == 0.93
    loaded = MelVAE.from_pretrained(tmp_path / "vae")
    assert loaded.config == model.config and not loaded.training
    mel = torch.randn(1, 16, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(mel).mean, model.encode(mel).mean)
        torch.testing.assert_close(loaded.from_latent(torch.ones(1, 8, 2, 16)),
                                   model.from_latent(torch.ones(1, 8, 2, 16)))  # fmt: skip
    with pytest.raises(FlowvoxError):  # an existing folder is not overwritten
        model.save_pretrained(tmp_path / "vae")


def test_folder_of_another_family_is_refused(tmp_path):
    tiny_vae().save_pretrained(tmp_path / "vae")
    path = tmp_path / "vae" / "config.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "family": "tta"}))
    with pytest.raises(FlowvoxError, match="family 'tta' is not a mel VAE"):
        load_vae(tmp_path / "vae")
    path.write_text(json.dumps(record["model"]))  # unstamped
    with pytest.raises(FlowvoxError, match="no family stamp"):
        load_vae(tmp_path / "vae")
    assert not TTA_VAE_FAMILY.holds(record["model"])


def test_folder_with_wrong_weights_is_refused(tmp_path):
    tiny_vae().save_pretrained(tmp_path / "vae")
    path = tmp_path / "vae" / "config.json"
    record = json.loads(path.read_text())
    record["model"]["latent_channels"] = 4
    path.write_text(json.dumps(record))
    with pytest.raises(FlowvoxError, match="does not match the model"):
        load_vae(tmp_path / "vae")
    with pytest.raises(FlowvoxError, match="not found"):
        load_vae(tmp_path / "missing")


@pytest.mark.parametrize("shape", [(1, 18, 64), (1, 16, 80), (16, 64)])
def test_bad_mel_shapes_are_refused(shape):
    with pytest.raises(FlowvoxError, match="mel VAE input"):
        tiny_vae().encode(torch.randn(*shape))


def test_bad_latent_is_refused():
    with pytest.raises(FlowvoxError, match="decode"):
        tiny_vae().decode(torch.randn(1, 4, 4, 16))


def test_presets_and_config_checks():
    tiny = MelVAEConfig.preset("tiny")
    assert tiny.downsample_factor == 4 and tiny.n_mels == 64
    assert MelVAEConfig.preset("tiny", ["scaling_factor=0.9"]).scaling_factor == 0.9
    assert MelVAEConfig.from_dict(tiny.to_dict()) == tiny
    with pytest.raises(FlowvoxError, match="unknown tta_vae preset"):
        MelVAEConfig.preset("huge")
    with pytest.raises(FlowvoxError, match="norm_num_groups"):
        MelVAEConfig(block_out_channels=(16, 30), norm_num_groups=8)
    with pytest.raises(FlowvoxError, match="one channel"):
        MelVAEConfig(in_channels=3)
    with pytest.raises(FlowvoxError, match="down-sampling factor"):
        MelVAEConfig(block_out_channels=(32,) * 8)
    with pytest.raises(FlowvoxError, match="unknown"):
        MelVAEConfig.from_dict({**tiny.to_dict(), "sample_size": 256})
