"""Import the released ``vocos`` package (0.1.0) where no working torchaudio exists.

# c: frequency bins (n_fft/2 + 1), f: mel bins
vocos imports torchaudio at import time, and no torchaudio build loads with torch 2.13. The
decode path (backbone + ISTFT head) never calls torchaudio; only two things are touched:
``from torchaudio.functional.functional import _hz_to_mel, _mel_to_hz`` (heads.py, used by the
IMDCT head only) and ``torchaudio.transforms.MelSpectrogram`` built by the feature extractor,
whose buffers (``spectrogram.window``, ``mel_scale.fb``) end up in the release state dict. The
stand-in provides exactly those, with the buffers computed by torchaudio's documented formulas
(periodic Hann; HTK triangular filters, no norm), and sits in ``sys.modules`` only while vocos
is imported. A working real torchaudio is used when present.

Used by tests/vocoders/test_vocos_equivalence.py and benchmarks/vocoder_speed.py. Install the
peer with benchmarks/peers/setup_peers.sh, or into any venv with
``pip install --no-deps vocos==0.1.0 encodec==0.1.1 && pip install huggingface-hub einops``.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types

import torch
from torch import nn

STANDIN_MODULES = (
    "torchaudio",
    "torchaudio.functional",
    "torchaudio.functional.functional",
    "torchaudio.transforms",
)
INSTALL_HINT = (
    "pip install --no-deps vocos==0.1.0 encodec==0.1.1 (or benchmarks/peers/setup_peers.sh)"
)


def missing_packages() -> list[str]:
    """Names among vocos / encodec that are not installed (empty when the peer is usable)."""
    return [name for name in ("vocos", "encodec") if importlib.util.find_spec(name) is None]


def htk_filter_bank(n_freqs: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    """torchaudio's melscale_fbanks(f_min=0, f_max=sr/2, norm=None, mel_scale="htk"): (c, f)."""

    def hz_to_mel(hz: float) -> float:
        return 2595.0 * math.log10(1.0 + hz / 700.0)

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
    """True when an installed torchaudio imports; a broken one is removed from sys.modules."""
    if importlib.util.find_spec("torchaudio") is None:
        return False
    try:
        importlib.import_module("torchaudio.transforms")
        return True
    except Exception:  # a torchaudio built for another torch fails in many ways
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        return False


def import_vocos_pretrained() -> types.ModuleType:
    """The ``vocos.pretrained`` module (its ``Vocos`` class); ImportError when not installed."""
    missing = missing_packages()
    if missing:
        raise ImportError(f"{missing} not installed: {INSTALL_HINT}")
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
    """A vocos config.yaml (parsed); (center, 512, 1536, 8) is the one of vocos-mel-24khz."""
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
