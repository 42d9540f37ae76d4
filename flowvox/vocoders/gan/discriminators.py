"""GAN discriminators for vocoder training: multi-period, multi-resolution, multi-scale.

# b: batch, s: samples, d: channels, p: period, h: rows (s / p), k: frequency bins, n: frames
Every discriminator takes a waveform (b, s) and returns a ``DiscriminatorOutput``: one logit
map per sub-discriminator, flattened to (b, m_i), and every sub-discriminator's feature maps
(for the feature-matching loss). Convolutions are weight-normed (MSD's first scale:
spectral norm), leaky ReLU slope 0.1 — the HiFi-GAN (MPD, MSD) and UnivNet/Vocos (MRD)
designs, written from their papers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from flowvox.errors import FlowvoxError


@dataclass
class DiscriminatorOutput:
    """``logits[i]`` (b, m_i) and ``feature_maps[i][j]`` (layer j of sub-discriminator i)."""

    logits: list[torch.Tensor]
    feature_maps: list[list[torch.Tensor]]


def _merge(outputs: list[tuple[torch.Tensor, list[torch.Tensor]]]) -> DiscriminatorOutput:
    return DiscriminatorOutput([o[0] for o in outputs], [o[1] for o in outputs])


def _check_wav(wav: torch.Tensor, name: str) -> None:
    if wav.dim() != 2:
        raise FlowvoxError(
            f"{name} takes waveforms (b, s), got shape {tuple(wav.shape)}; batch mono audio "
            "as (b, s) (e.g. wav.squeeze(1) for (b, 1, s))"
        )


@dataclass
class MPDConfig:
    """HiFi-GAN multi-period discriminator: one 2-D conv stack per period."""

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)
    kernel_size: int = 5
    stride: int = 3
    leaky_slope: float = 0.1


class PeriodDiscriminator(nn.Module):
    """Waveform folded to (b, 1, s/p, p); (k, 1) convs see samples p apart."""

    def __init__(self, period: int, cfg: MPDConfig):
        super().__init__()
        self.period = period
        self.slope = cfg.leaky_slope
        k, pad = cfg.kernel_size, cfg.kernel_size // 2
        dims = (1, *cfg.channels)
        strides = [cfg.stride] * (len(cfg.channels) - 1) + [1]  # last conv keeps the length
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(d_in, d_out, (k, 1), (st, 1), padding=(pad, 0)))
            for d_in, d_out, st in zip(dims[:-1], dims[1:], strides, strict=True)
        )
        self.conv_post = weight_norm(nn.Conv2d(dims[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        rest = -wav.shape[-1] % self.period
        x = nn.functional.pad(wav.unsqueeze(1), (0, rest), mode="reflect")  # (b, 1, s')
        x = rearrange(x, "b 1 (h p) -> b 1 h p", p=self.period)
        fmaps = []
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), self.slope)  # (b, d, h', p)
            fmaps.append(x)
        x = self.conv_post(x)  # (b, 1, h', p)
        fmaps.append(x)
        return x.flatten(1), fmaps


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, config: MPDConfig | None = None):
        super().__init__()
        self.config = config or MPDConfig()
        self.discriminators = nn.ModuleList(
            PeriodDiscriminator(p, self.config) for p in self.config.periods
        )

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """(b, s) -> logits (b, h'·p) per period."""
        _check_wav(wav, "MultiPeriodDiscriminator")
        return _merge([d(wav) for d in self.discriminators])


@dataclass
class MRDConfig:
    """UnivNet/Vocos multi-resolution discriminator on magnitude spectrograms.

    ``resolutions``: (n_fft, hop, win) per sub-discriminator.
    """

    resolutions: tuple[tuple[int, int, int], ...] = (
        (512, 128, 512),
        (1024, 256, 1024),
        (2048, 512, 2048),
    )
    channels: int = 64
    leaky_slope: float = 0.1


class ResolutionDiscriminator(nn.Module):
    """|STFT| as an image (b, 1, k, n) through strided 2-D convs (frequency, time)."""

    def __init__(self, resolution: tuple[int, int, int], cfg: MRDConfig):
        super().__init__()
        self.n_fft, self.hop, self.win = resolution
        self.slope = cfg.leaky_slope
        self.register_buffer("window", torch.hann_window(self.win), persistent=False)
        d = cfg.channels
        # (d_in, d_out, kernel, stride, padding) over (frequency, time)
        layers = [
            (1, d, (7, 5), (2, 2), (3, 2)),
            (d, d, (5, 3), (2, 1), (2, 1)),
            (d, d, (5, 3), (2, 2), (2, 1)),
            (d, d, (3, 3), (2, 1), (1, 1)),
            (d, d, (3, 3), (2, 2), (1, 1)),
        ]
        self.convs = nn.ModuleList(weight_norm(nn.Conv2d(*spec)) for spec in layers)
        self.conv_post = weight_norm(nn.Conv2d(d, 1, (3, 3), padding=(1, 1)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(
            wav.float(),
            self.n_fft,
            self.hop,
            self.win,
            window=self.window,
            center=True,
            return_complex=True,
        ).abs()  # (b, k, n)
        x = spec.unsqueeze(1)  # (b, 1, k, n)
        fmaps = []
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), self.slope)
            fmaps.append(x)
        x = self.conv_post(x)  # (b, 1, k', n')
        fmaps.append(x)
        return x.flatten(1), fmaps


class MultiResolutionDiscriminator(nn.Module):
    def __init__(self, config: MRDConfig | None = None):
        super().__init__()
        self.config = config or MRDConfig()
        self.discriminators = nn.ModuleList(
            ResolutionDiscriminator(r, self.config) for r in self.config.resolutions
        )

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """(b, s) -> logits (b, k'·n') per resolution."""
        _check_wav(wav, "MultiResolutionDiscriminator")
        return _merge([d(wav) for d in self.discriminators])


@dataclass
class MSDConfig:
    """HiFi-GAN multi-scale discriminator: the waveform, then ×2 and ×4 average-pooled."""

    scales: int = 3
    channels: tuple[int, ...] = (128, 128, 256, 512, 1024, 1024, 1024)
    leaky_slope: float = 0.1


class ScaleDiscriminator(nn.Module):
    """Grouped strided 1-D convs on (b, 1, s)."""

    def __init__(self, cfg: MSDConfig, spectral: bool):
        super().__init__()
        self.slope = cfg.leaky_slope
        norm = spectral_norm if spectral else weight_norm
        d = cfg.channels
        if len(d) != 7:
            raise FlowvoxError(
                f"MSDConfig.channels has {len(d)} entries; the multi-scale discriminator has "
                f"seven conv layers: give seven widths, e.g. {MSDConfig.channels}"
            )
        # (d_in, d_out, kernel, stride, groups)
        layers = [
            (1, d[0], 15, 1, 1),
            (d[0], d[1], 41, 2, 4),
            (d[1], d[2], 41, 2, 16),
            (d[2], d[3], 41, 4, 16),
            (d[3], d[4], 41, 4, 16),
            (d[4], d[5], 41, 1, 16),
            (d[5], d[6], 5, 1, 1),
        ]
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(i, o, k, st, padding=k // 2, groups=min(g, i, o)))
            for i, o, k, st, g in layers
        )
        self.conv_post = norm(nn.Conv1d(d[6], 1, 3, padding=1))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = wav.unsqueeze(1)  # (b, 1, s)
        fmaps = []
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), self.slope)  # (b, d, s')
            fmaps.append(x)
        x = self.conv_post(x)  # (b, 1, s')
        fmaps.append(x)
        return x.flatten(1), fmaps


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, config: MSDConfig | None = None):
        super().__init__()
        self.config = config or MSDConfig()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(self.config, spectral=i == 0) for i in range(self.config.scales)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """(b, s) -> logits (b, s_i') per scale; scale i sees the waveform pooled i times."""
        _check_wav(wav, "MultiScaleDiscriminator")
        outputs = []
        x = wav.unsqueeze(1)  # (b, 1, s)
        for i, disc in enumerate(self.discriminators):
            if i > 0:
                x = self.pool(x)  # (b, 1, s / 2^i + 1)
            outputs.append(disc(x.squeeze(1)))
        return _merge(outputs)


@dataclass
class DiscriminatorConfig:
    """Which discriminators a vocoder GAN uses (None leaves one out). Default: MPD + MRD."""

    mpd: MPDConfig | None = None
    mrd: MRDConfig | None = None
    msd: MSDConfig | None = None

    def __post_init__(self) -> None:
        for name, cls in (("mpd", MPDConfig), ("mrd", MRDConfig), ("msd", MSDConfig)):
            value = getattr(self, name)
            if isinstance(value, dict):  # from YAML/JSON
                setattr(self, name, cls(**value))

    @classmethod
    def default(cls) -> DiscriminatorConfig:
        return cls(mpd=MPDConfig(), mrd=MRDConfig())


class Discriminators(nn.Module):
    """All configured discriminators as one: their logits and feature maps, concatenated."""

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        self.mpd = MultiPeriodDiscriminator(config.mpd) if config.mpd else None
        self.mrd = MultiResolutionDiscriminator(config.mrd) if config.mrd else None
        self.msd = MultiScaleDiscriminator(config.msd) if config.msd else None
        if not (self.mpd or self.mrd or self.msd):
            raise FlowvoxError("discriminator config: enable at least one of mpd, mrd, msd")

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """(b, s) -> every sub-discriminator's logits, in the order mpd, mrd, msd."""
        merged = DiscriminatorOutput([], [])
        for disc in (self.mpd, self.mrd, self.msd):
            if disc is not None:
                out = disc(wav)
                merged.logits += out.logits
                merged.feature_maps += out.feature_maps
        return merged
