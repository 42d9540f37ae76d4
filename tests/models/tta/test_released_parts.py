"""flowvox's readers of AudioLDM's released parts against the packages that write them.

Small random ``diffusers.AutoencoderKL`` and ``transformers.SpeechT5HifiGan`` models are saved
with their own ``save_pretrained`` and read back by ``load_diffusers_vae`` /
``load_speecht5_hifigan``; posterior mean and log-variance, decoded mels and waveforms must
agree within 1e-4 (max abs). The packages live in the peers venv only
(``benchmarks/peers/setup_peers.sh tta``); elsewhere these tests skip, or fail with
FLOWVOX_REQUIRE_TTA=1:
  FLOWVOX_REQUIRE_TTA=1 benchmarks/.peers-venv/bin/python -m pytest -q -p no:cacheprovider \\
      tests/models/tta/test_released_parts.py
"""
# b: batch, n: mel frames, f: mel bins, C: latent channels

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from flowvox.models.tta.release import load_diffusers_vae, load_speecht5_hifigan
from tests.peers.require import import_peer

INSTALL = "benchmarks/peers/setup_peers.sh tta"
ENV = "FLOWVOX_REQUIRE_TTA"
TOLERANCE = 1e-4

diffusers = import_peer("diffusers", INSTALL, env=ENV)
transformers = import_peer("transformers", INSTALL, env=ENV)


def randomise(model: nn.Module, seed: int) -> None:
    """Every parameter and buffer random but of sane size (norm gains near 1)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and "norm" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif p.dim() == 1:
                p.normal_(0.0, 0.1)
            else:
                fan_in = p[0].numel()
                p.normal_(0.0, fan_in**-0.5)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
@pytest.mark.parametrize("widths, layers", [((16, 32, 32), 2), ((32, 64), 1)])
def test_vae_matches_diffusers_autoencoderkl(tmp_path, safe, widths, layers):
    reference = diffusers.AutoencoderKL(
        in_channels=1,
        out_channels=1,
        latent_channels=8,
        block_out_channels=widths,
        layers_per_block=layers,
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * len(widths),
        up_block_types=("UpDecoderBlock2D",) * len(widths),
        scaling_factor=0.9227,
    )
    randomise(reference, seed=0)
    reference.eval().save_pretrained(tmp_path / "vae", safe_serialization=safe)
    model = load_diffusers_vae(tmp_path / "vae")
    assert model.config.scaling_factor == pytest.approx(0.9227)
    r = 2 ** (len(widths) - 1)
    mel = torch.randn(2, 32, 64, generator=torch.Generator().manual_seed(1))  # (b, n, f)
    z = torch.randn(2, 8, 32 // r, 64 // r, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        theirs = reference.encode(mel.unsqueeze(1)).latent_dist
        ours = model.encode(mel)
        assert max_diff(ours.mean, theirs.mean) <= TOLERANCE
        assert max_diff(ours.logvar, theirs.logvar) <= TOLERANCE
        assert theirs.mean.abs().max() > 0.1  # not trivially zero
        decoded = reference.decode(z).sample.squeeze(1)  # (b, n, f)
        assert max_diff(model.decode(z), decoded) <= TOLERANCE
        assert decoded.abs().max() > 0.1
        # AudioLDM's decode path: latents / scaling_factor -> VAE
        latents = z * 0.9227
        expected = reference.decode(latents / reference.config.scaling_factor).sample.squeeze(1)
        assert max_diff(model.from_latent(latents), expected) <= TOLERANCE


@pytest.mark.parametrize("weight_norm", [False, True], ids=["plain", "weight_norm"])
@pytest.mark.parametrize("normalize", [False, True], ids=["raw", "normalize_before"])
@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_vocoder_matches_transformers_speecht5_hifigan(tmp_path, weight_norm, normalize, safe):
    config = transformers.SpeechT5HifiGanConfig(
        model_in_dim=64,
        sampling_rate=16000,
        upsample_initial_channel=64,
        upsample_rates=[5, 4, 2, 2, 2],  # AudioLDM's, hop 160
        upsample_kernel_sizes=[16, 16, 8, 4, 4],
        resblock_kernel_sizes=[3, 7, 11],
        resblock_dilation_sizes=[[1, 3, 5]] * 3,
        leaky_relu_slope=0.1,
        normalize_before=normalize,
    )
    reference = transformers.SpeechT5HifiGan(config)
    randomise(reference, seed=0)
    with torch.no_grad():
        reference.mean.normal_(0.0, 1.0)
        reference.scale.uniform_(0.5, 2.0)
    if weight_norm:
        reference.apply_weight_norm()
    folder = tmp_path / "vocoder"
    reference.eval().save_pretrained(folder)
    if not safe:  # transformers 5 writes safetensors only; older ones wrote pytorch_model.bin
        state = load_file(folder / "model.safetensors")
        (folder / "model.safetensors").unlink()
        torch.save(state, folder / "pytorch_model.bin")
    vocoder = load_speecht5_hifigan(folder)
    mel = torch.randn(2, 20, 64, generator=torch.Generator().manual_seed(3))  # (b, n, f)
    with torch.no_grad():
        theirs = reference(mel)  # (b, s)
        ours = vocoder(mel)
    assert theirs.shape == (2, 20 * 160 + 32)
    assert max_diff(ours, theirs) <= TOLERANCE
    assert theirs.abs().max() > 0.05  # not trivially silent
