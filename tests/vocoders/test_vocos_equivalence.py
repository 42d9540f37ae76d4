"""flowvox Vocos against the released ``vocos`` package (0.1.0) on the same weights.

The official model is random-initialised from its own config.yaml, every parameter is
perturbed (so biases, norms and γ matter), its state dict is saved in the release format and
loaded with ``Vocos.from_release``; both decode the same random mel.

Why a stand-in torchaudio: vocos imports torchaudio at import time, and no torchaudio build
loads with torch 2.13. The decode path (backbone + ISTFT head) never calls torchaudio; only
two things are touched: ``from torchaudio.functional.functional import _hz_to_mel,
_mel_to_hz`` (heads.py, used by the IMDCT head only) and ``torchaudio.transforms.MelSpectrogram``
built by the feature extractor, whose buffers (``spectrogram.window``, ``mel_scale.fb``) end up
in the release state dict. The stand-in provides exactly those, with the buffers computed by
torchaudio's documented formulas (periodic Hann; HTK triangular filters, no norm), and is only
in ``sys.modules`` while vocos is imported. A working real torchaudio is used when present.

Set FLOWVOX_REQUIRE_PEERS=1 (CI does) to make a missing vocos package a failure, not a skip:
  pip install --no-deps vocos==0.1.0 encodec==0.1.1 && pip install huggingface-hub
"""

import importlib
import importlib.util
import math
import os
import sys
import types

import pytest
import torch
import yaml
from torch import nn

from flowvox.vocoders.vocos import Vocos

STANDIN_MODULES = ("torchaudio", "torchaudio.functional", "torchaudio.functional.functional")
STANDIN_MODULES += ("torchaudio.transforms",)


def htk_filter_bank(n_freqs: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    """torchaudio's melscale_fbanks(f_min=0, f_max=sr/2, norm=None, mel_scale="htk"): (c, f)."""
    hz_to_mel = lambda hz: 2595.0 * math.log10(1.0 + hz / 700.0)  # noqa: E731
    freqs = torch.linspace(0, sample_rate // 2, n_freqs)  # (c,)
    mels = torch.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2)
    corners = 700.0 * (10 ** (mels / 2595.0) - 1.0)  # (f + 2,) filter corners in Hz
    widths = corners[1:] - corners[:-1]
    slopes = corners[None, :] - freqs[:, None]  # (c, f + 2)
    rising = -slopes[:, :-2] / widths[:-1]
    falling = slopes[:, 2:] / widths[1:]
    return torch.minimum(rising, falling).clamp(min=0.0)


def torchaudio_standin() -> dict[str, types.ModuleType]:
    """Modules providing only what vocos 0.1.0 touches outside training and EnCodec."""
    root = types.ModuleType("torchaudio")
    functional = types.ModuleType("torchaudio.functional")
    functional_functional = types.ModuleType("torchaudio.functional.functional")
    transforms = types.ModuleType("torchaudio.transforms")

    def unavailable(*args, **kwargs):
        raise NotImplementedError("torchaudio stand-in: only the mel-vocoder decode path works")

    functional_functional._hz_to_mel = unavailable
    functional_functional._mel_to_hz = unavailable

    class MelSpectrogram(nn.Module):
        """Holds the buffers torchaudio's MelSpectrogram registers; computes nothing."""

        def __init__(self, sample_rate=16000, n_fft=400, hop_length=None, n_mels=128, **kwargs):
            super().__init__()
            self.win_length = kwargs.get("win_length") or n_fft
            self.hop_length = hop_length or self.win_length // 2
            self.spectrogram = nn.Module()
            self.spectrogram.register_buffer("window", torch.hann_window(self.win_length))
            self.mel_scale = nn.Module()
            fb = htk_filter_bank(n_fft // 2 + 1, n_mels, sample_rate)
            self.mel_scale.register_buffer("fb", fb)

        def forward(self, wav):
            unavailable()

    transforms.MelSpectrogram = MelSpectrogram
    root.functional, root.transforms = functional, transforms
    functional.functional = functional_functional
    modules = [root, functional, functional_functional, transforms]
    return {module.__name__: module for module in modules}


def real_torchaudio_works() -> bool:
    if importlib.util.find_spec("torchaudio") is None:
        return False
    try:
        importlib.import_module("torchaudio.transforms")
        return True
    except Exception:  # a torchaudio built for another torch fails in many ways
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        return False


@pytest.fixture(scope="module")
def vocos_package() -> types.ModuleType:
    """The ``vocos.pretrained`` module of the installed vocos package."""
    missing = [n for n in ("vocos", "encodec") if importlib.util.find_spec(n) is None]
    if missing:
        message = f"{missing} not installed: pip install --no-deps vocos==0.1.0 encodec==0.1.1"
        if os.environ.get("FLOWVOX_REQUIRE_PEERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    if real_torchaudio_works():
        return importlib.import_module("vocos.pretrained")
    saved = {name: sys.modules.get(name) for name in STANDIN_MODULES}
    sys.modules.update(torchaudio_standin())
    try:
        return importlib.import_module("vocos.pretrained")
    finally:  # vocos keeps its references; nobody else sees the stand-in
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def release_config(padding: str, dim: int, hidden: int, layers: int) -> dict:
    """A vocos config.yaml; (center, 512, 1536, 8) is the one of vocos-mel-24khz."""
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": dict(
                sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, padding="center"
            ),
        },
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": dict(
                input_channels=100, dim=dim, intermediate_dim=hidden, num_layers=layers
            ),
        },
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": dict(dim=dim, n_fft=1024, hop_length=256, padding=padding),
        },
    }


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

    ours = Vocos.from_release(tmp_path)
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
