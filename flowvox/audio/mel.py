"""Log-mel front-ends as configs with named presets, computed with torch.stft.

Axis letters: b batch, s samples, f mel bins, n frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from flowvox.errors import FlowvoxError


@dataclass(frozen=True)
class MelConfig:
    """Everything that decides a log-mel spectrogram.

    mel = log(clamp(M · |STFT(x)|^power (+ magnitude_eps inside the root), log_floor))
    with M the (f, n_fft/2+1) filter bank from librosa (HTK or Slaney scale).
    ``center=True`` pads n_fft/2 on both sides (torch/librosa style); ``center=False`` pads
    (n_fft - hop)/2 on both sides (HiFi-GAN/AudioLDM style). Both use ``pad_mode``.
    """

    name: str
    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int
    f_min: float = 0.0
    f_max: float | None = None  # None: sample_rate / 2
    mel_scale: str = "htk"  # "htk" or "slaney"
    norm: str | None = None  # None or "slaney" (area normalisation of the filters)
    power: float = 1.0  # 1: magnitude, 2: power
    magnitude_eps: float = 0.0  # added to re² + im² before the root (HiFi-GAN uses 1e-9)
    center: bool = True
    pad_mode: str = "reflect"
    log_floor: float = 1e-5

    def frames(self, num_samples: int) -> int:
        """Number of frames this front-end gives for ``num_samples`` samples."""
        if self.center:
            return num_samples // self.hop_length + 1
        padded = num_samples + 2 * ((self.n_fft - self.hop_length) // 2)
        return (padded - self.n_fft) // self.hop_length + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FlowvoxError(
                f"mel config: unknown keys {unknown}; known keys are {sorted(known)}"
            )
        return cls(**data)

    def check_same(self, other: MelConfig, this_name: str, other_name: str) -> None:
        """Raise ``FlowvoxError`` naming both sides when two mel configs differ."""
        mine, theirs = asdict(self), asdict(other)
        diff = [k for k in mine if k != "name" and mine[k] != theirs[k]]
        if diff:
            detail = ", ".join(f"{k}: {mine[k]} vs {theirs[k]}" for k in diff)
            raise FlowvoxError(
                f"mel mismatch: {this_name} uses mel preset {self.name!r} but {other_name} uses "
                f"{other.name!r} ({detail}); pair models trained on the same mel preset"
            )


MEL_PRESETS: dict[str, MelConfig] = {
    # F5-TTS / Vocos (vocos-mel-24khz): HTK scale, no filter norm, magnitude, centred STFT.
    "vocos24k": MelConfig(
        name="vocos24k",
        sample_rate=24000,
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mels=100,
        f_min=0.0,
        f_max=None,
        mel_scale="htk",
        norm=None,
        center=True,
    ),
    # Public HiFi-GAN 22.05 kHz checkpoints: Slaney scale and norm, fmax 8 kHz, uncentred STFT.
    "hifigan22k": MelConfig(
        name="hifigan22k",
        sample_rate=22050,
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mels=80,
        f_min=0.0,
        f_max=8000.0,
        mel_scale="slaney",
        norm="slaney",
        magnitude_eps=1e-9,
        center=False,
    ),
    # LAFMA / AudioLDM mel VAE input: 16 kHz, hop 160, 64 Slaney mels up to 8 kHz.
    "lafma16k": MelConfig(
        name="lafma16k",
        sample_rate=16000,
        n_fft=1024,
        hop_length=160,
        win_length=1024,
        n_mels=64,
        f_min=0.0,
        f_max=8000.0,
        mel_scale="slaney",
        norm="slaney",
        magnitude_eps=1e-9,
        center=False,
    ),
    # Whisper / WhisperSpeech: 16 kHz, 25 ms window, hop 160 (100 frames/s), 80 Slaney mels,
    # power spectrum, centred STFT, floor 1e-10. Whisper's log10, 8-decade clamp and
    # (x + 4) / 4 come after (flowvox.models.semantic.network.whisper_features).
    "whisper16k": MelConfig(
        name="whisper16k",
        sample_rate=16000,
        n_fft=400,
        hop_length=160,
        win_length=400,
        n_mels=80,
        f_min=0.0,
        f_max=8000.0,
        mel_scale="slaney",
        norm="slaney",
        power=2.0,
        center=True,
        log_floor=1e-10,
    ),
}


def get_mel_preset(name: str) -> MelConfig:
    """The named preset; ``FlowvoxError`` listing the presets for an unknown name."""
    if name not in MEL_PRESETS:
        raise FlowvoxError(f"unknown mel preset {name!r}; choose one of {sorted(MEL_PRESETS)}")
    return MEL_PRESETS[name]


def as_mel_config(value: str | dict | MelConfig) -> MelConfig:
    """A config's ``mel`` field as a ``MelConfig``: a preset name, the fields as a dict (a
    saved config.json), or a ``MelConfig`` already."""
    if isinstance(value, str):
        return get_mel_preset(value)
    if isinstance(value, dict):
        return MelConfig.from_dict(value)
    return value


def mel_filter_bank(config: MelConfig) -> torch.Tensor:
    """The (f, n_fft // 2 + 1) filter bank, built by librosa."""
    import librosa

    bank = librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.f_min,
        fmax=config.f_max,
        htk=config.mel_scale == "htk",
        norm=config.norm,
    )
    return torch.from_numpy(bank).float()


class MelSpectrogram(nn.Module):
    """Waveform (b, s) or (s,) -> log-mel (b, f, n) or (f, n), float32.

    The window and filter bank are buffers (not saved in state dicts), so the module moves
    with ``.to(device)``.
    """

    def __init__(self, config: MelConfig):
        super().__init__()
        self.config = config
        # periodic Hann, as torch.hann_window and scipy's "hann" with fftbins=True
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)
        self.register_buffer("filters", mel_filter_bank(config), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        single = wav.dim() == 1
        x = wav.unsqueeze(0) if single else wav  # (b, s)
        if not cfg.center:
            pad = (cfg.n_fft - cfg.hop_length) // 2
            x = nn.functional.pad(x.unsqueeze(1), (pad, pad), mode=cfg.pad_mode).squeeze(1)
        spec = torch.stft(
            x.float(),
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window=self.window,
            center=cfg.center,
            pad_mode=cfg.pad_mode,
            return_complex=True,
        )  # (b, n_fft/2+1, n)
        energy = spec.real.square() + spec.imag.square() + cfg.magnitude_eps
        magnitude = energy if cfg.power == 2.0 else energy.pow(cfg.power / 2.0)
        mel = torch.matmul(self.filters, magnitude)  # (b, f, n)
        log_mel = mel.clamp(min=cfg.log_floor).log()
        return log_mel.squeeze(0) if single else log_mel
