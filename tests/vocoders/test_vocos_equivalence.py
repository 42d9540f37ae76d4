"""flowvox Vocos against the released ``vocos`` package (0.1.0) on the same weights.

The official model is random-initialised from its own config.yaml, every parameter is
perturbed (so biases, norms and γ matter), its state dict is saved in the release format and
loaded with ``load_vocos_release``; both decode the same random mel.

vocos 0.1.0 imports torchaudio, which has no build for torch 2.13:
``tests/peers/vocos_peer.py`` imports it with a stand-in torchaudio in place (the decode
path never calls torchaudio), shared with benchmarks/vocoder_speed.py.

A missing vocos package skips these tests, or fails them under FLOWVOX_REQUIRE_PEERS=1 (``make
test``, CI): see tests/peers/require.py. Install it with
  pip install --no-deps vocos==0.1.0 encodec==0.1.1 && pip install huggingface-hub
"""

import pytest
import torch
import yaml

from flowvox.vocoders import load_vocos_release
from tests.peers.require import require_peer
from tests.peers.vocos_peer import (
    INSTALL_HINT,
    import_vocos_pretrained,
    missing_packages,
    release_config,
)


@pytest.fixture(scope="module")
def vocos_package():
    """The ``vocos.pretrained`` module of the installed vocos package."""
    require_peer(missing_packages(), INSTALL_HINT)
    return import_vocos_pretrained()


@pytest.mark.parametrize(
    "padding, dim, hidden, layers",
    [("center", 512, 1536, 8), ("same", 64, 96, 3)],
    ids=["vocos-mel-24khz", "tiny-same"],
)
def test_waveform_matches_official_vocos(vocos_package, tmp_path, padding, dim, hidden, layers):
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(release_config(padding, dim, hidden, layers)))
    torch.manual_seed(0)
    official = vocos_package.Vocos.from_hparams(str(config_path)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in official.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    torch.save(official.state_dict(), tmp_path / "pytorch_model.bin")

    ours = load_vocos_release(tmp_path)
    frames = 120
    mel = torch.randn(2, frames, 100, generator=g) * 2.0 - 6.0  # (b, n, f), log-mel-like
    with torch.inference_mode():
        expected = official.decode(mel.transpose(1, 2))  # vocos takes (b, f, n)
        got = ours(mel)
    assert got.shape == expected.shape == (2, ours.config.num_samples(frames))
    assert expected.abs().max() > 0.05  # a waveform, not silence
    error = (got - expected).abs().max().item()
    print(f"max abs waveform difference ({padding}, dim {dim}): {error:.3g}")
    assert error <= 1e-4
