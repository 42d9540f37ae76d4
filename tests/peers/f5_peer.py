"""Import the released ``f5-tts`` package (1.1.22) where no working torchaudio exists.

# b: batch, w: wave samples, c: frequency bins (n_fft/2 + 1), f: mel bins, n: frames
f5-tts imports torchaudio at import time (``f5_tts.model.modules``, ``.dataset``,
``.trainer``), and the torchaudio its requirements pull (2.11) has a compiled part that does
not load with torch 2.13. The model and sampler never call torchaudio on mel input; the only
calls are ``torchaudio.transforms.MelSpectrogram`` (waveform input to ``CFM``),
``torchaudio.load``/``save`` and ``transforms.Resample`` (data loading, inference helpers).
The stand-in below provides a working MelSpectrogram (torchaudio's documented maths: centered
STFT with reflect padding, periodic Hann, magnitude**power, HTK filters, no norm) and makes
the file and resampling entry points raise. It sits in ``sys.modules`` only while
``f5_tts.model`` is imported; f5_tts keeps its reference, nobody else sees it. A working
real torchaudio is used when present.

Install the peer with ``benchmarks/peers/setup_peers.sh f5tts``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import torch
from torch import nn

from tests.peers.vocos_peer import htk_filter_bank, real_torchaudio_works

STANDIN_MODULES = ("torchaudio", "torchaudio.functional", "torchaudio.transforms")
INSTALL_HINT = "benchmarks/peers/setup_peers.sh f5tts (f5-tts==1.1.22 without its deps)"


class StandinMelSpectrogram(nn.Module):
    """torchaudio.transforms.MelSpectrogram for f_min=0, f_max=sr/2, norm=None, htk scale.

    wav (b, w) -> (b, f, n) with n = w // hop + 1 (centered frames):
    S = |STFT(wav)|^power (c, n);  M = fbᵀ S  with fb the (c, f) HTK triangles.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 400,
        win_length: int | None = None,
        hop_length: int | None = None,
        n_mels: int = 128,
        power: float = 2.0,
        center: bool = True,
        normalized: bool = False,
        norm: str | None = None,
        pad_mode: str = "reflect",
        **kwargs,
    ) -> None:
        super().__init__()
        if normalized or norm is not None or kwargs.get("f_min", 0) or kwargs.get("f_max"):
            raise NotImplementedError("torchaudio stand-in: only the vocos-style mel is provided")
        self.n_fft, self.power, self.center, self.pad_mode = n_fft, power, center, pad_mode
        self.win_length = win_length or n_fft
        self.hop_length = hop_length or self.win_length // 2
        self.spectrogram = nn.Module()
        self.spectrogram.register_buffer("window", torch.hann_window(self.win_length))
        self.mel_scale = nn.Module()
        self.mel_scale.register_buffer("fb", htk_filter_bank(n_fft // 2 + 1, n_mels, sample_rate))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wav,
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.spectrogram.window,
            center=self.center,
            pad_mode=self.pad_mode,
            return_complex=True,
        )  # (b, c, n)
        magnitude = spec.abs().pow(self.power)
        return torch.einsum("...cn,cf->...fn", magnitude, self.mel_scale.fb)  # (b, f, n)


def torchaudio_standin() -> dict[str, types.ModuleType]:
    """Modules providing what f5_tts.model touches; file I/O and resampling raise."""
    root = types.ModuleType("torchaudio")
    functional = types.ModuleType("torchaudio.functional")
    transforms = types.ModuleType("torchaudio.transforms")

    def unavailable(*args, **kwargs):
        raise NotImplementedError(
            "torchaudio stand-in (tests/peers/f5_peer.py): only MelSpectrogram works; "
            "feed mels, not files"
        )

    class Resample(nn.Module):
        def __init__(self, *args, **kwargs):
            unavailable()

    transforms.MelSpectrogram = StandinMelSpectrogram
    transforms.Resample = Resample
    root.load = root.save = root.info = unavailable
    root.functional, root.transforms = functional, transforms
    return {module.__name__: module for module in (root, functional, transforms)}


def missing_packages() -> list[str]:
    """Modules f5_tts.model needs that are not installed (empty when the peer is usable)."""
    needed = ("f5_tts", "x_transformers", "torchdiffeq", "rjieba", "pypinyin", "ema_pytorch")
    needed += ("wandb", "datasets", "librosa", "accelerate")
    return [name for name in needed if importlib.util.find_spec(name) is None]


def import_f5_model() -> types.ModuleType:
    """The ``f5_tts.model`` package (``CFM``, ``DiT``); ImportError when not installed."""
    missing = missing_packages()
    if missing:
        raise ImportError(f"{missing} not installed: {INSTALL_HINT}")
    if real_torchaudio_works():
        return importlib.import_module("f5_tts.model")
    saved = {name: sys.modules.get(name) for name in STANDIN_MODULES}
    sys.modules.update(torchaudio_standin())
    try:
        return importlib.import_module("f5_tts.model")
    finally:  # f5_tts keeps its references; nobody else sees the stand-in
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
