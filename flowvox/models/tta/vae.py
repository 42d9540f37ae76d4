"""The mel VAE of AudioLDM / LAFMA: diffusers' AutoencoderKL, written out, over log-mels.

# b: batch, c: channels, n: mel frames (image height), f: mel bins (image width), C: latent
A log-mel (b, n, f) is a one-channel image (b, 1, n, f). The encoder maps it to a diagonal
Gaussian posterior over latents (b, C, n/r, f/r), r = 2^(blocks - 1) (AudioLDM: C = 8,
r = 4, so 1024 × 64 -> 8 × 256 × 16); the decoder maps a latent back to a mel (b, n, f).
Module and parameter names are diffusers' ``AutoencoderKL`` state-dict keys
(``encoder.down_blocks.0.resnets.0.norm1``, ``encoder.mid_block.attentions.0.to_q``,
``quant_conv``, ``decoder.up_blocks.0.upsamplers.0.conv`` ...), so a released ``vae/``
loads 1:1 (``flowvox.models.tta.release.load_diffusers_vae``).

A model folder of this family is stamped "tta_vae" (``TTA_VAE_FAMILY``); it has no
tokenizer, so ``load_vae`` reads it with ``loading.load_model`` (config and weights only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

from flowvox.errors import FlowvoxError
from flowvox.models.loading import (
    ModelFamily,
    PretrainedModel,
    load_model,
    save_model_dir,
)
from flowvox.models.tta.vae_config import TTA_VAE_FAMILY, MelVAEConfig

EPS = 1e-6  # GroupNorm eps everywhere in AutoencoderKL


def _norm(groups: int, channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(groups, channels, eps=EPS)


class ResnetBlock2D(nn.Module):
    """h = conv2(silu(norm2(conv1(silu(norm1(x)))))); out = shortcut(x) + h;
    (b, c_in, n, f) -> (b, c_out, n, f); the shortcut is a 1×1 conv when widths differ."""

    def __init__(self, c_in: int, c_out: int, groups: int):
        super().__init__()
        self.norm1 = _norm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = _norm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return skip + h


class Downsample2D(nn.Module):
    """Pad one zero row/column at the end, then a 3×3 conv of stride 2: (b, c, n, f) ->
    (b, c, n/2, f/2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample2D(nn.Module):
    """Nearest ×2, then a 3×3 conv: (b, c, n, f) -> (b, c, 2n, 2f)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Attention(nn.Module):
    """One-head self-attention over all n·f positions with a residual:
    x + to_out(softmax(q kᵀ / √c) v), q, k, v = to_q/k/v(group_norm(x))."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.group_norm = _norm(groups, channels)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels), nn.Dropout(0.0)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, f = x.shape[-2:]
        h = rearrange(self.group_norm(x), "b c n f -> b (n f) c")
        q, k, v = self.to_q(h), self.to_k(h), self.to_v(h)  # (b, n·f, c)
        h = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1))
        h = self.to_out[0](h.squeeze(1))  # (b, n·f, c)
        return x + rearrange(h, "b (n f) c -> b c n f", n=n, f=f)


class UNetMidBlock2D(nn.Module):
    """resnet -> attention -> resnet at the lowest resolution, width unchanged."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, groups) for _ in "ab"])
        self.attentions = nn.ModuleList([Attention(channels, groups)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class DownEncoderBlock2D(nn.Module):
    """``layers`` resnets (c_in -> c_out), then an optional ×2 down-sampling."""

    def __init__(self, c_in: int, c_out: int, layers: int, groups: int, down: bool):
        super().__init__()
        widths = [c_in] + [c_out] * layers
        self.resnets = nn.ModuleList(ResnetBlock2D(widths[i], c_out, groups) for i in range(layers))
        self.downsamplers = nn.ModuleList([Downsample2D(c_out)]) if down else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        return x if self.downsamplers is None else self.downsamplers[0](x)


class UpDecoderBlock2D(nn.Module):
    """``layers`` resnets (c_in -> c_out), then an optional ×2 up-sampling."""

    def __init__(self, c_in: int, c_out: int, layers: int, groups: int, up: bool):
        super().__init__()
        widths = [c_in] + [c_out] * layers
        self.resnets = nn.ModuleList(ResnetBlock2D(widths[i], c_out, groups) for i in range(layers))
        self.upsamplers = nn.ModuleList([Upsample2D(c_out)]) if up else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        return x if self.upsamplers is None else self.upsamplers[0](x)


class Encoder(nn.Module):
    """(b, 1, n, f) -> (b, 2C, n/r, f/r): conv_in, down blocks, mid block, norm, silu, conv."""

    def __init__(self, cfg: MelVAEConfig):
        super().__init__()
        widths, groups = cfg.block_out_channels, cfg.norm_num_groups
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            DownEncoderBlock2D(
                widths[max(i - 1, 0)], c, cfg.layers_per_block, groups, i < len(widths) - 1
            )
            for i, c in enumerate(widths)
        )
        self.mid_block = UNetMidBlock2D(widths[-1], groups)
        self.conv_norm_out = _norm(groups, widths[-1])
        self.conv_out = nn.Conv2d(widths[-1], 2 * cfg.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)  # (b, c0, n, f)
        for block in self.down_blocks:
            x = block(x)  # (b, c_i, n/2^i, f/2^i)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))  # (b, 2C, n/r, f/r)


class Decoder(nn.Module):
    """(b, C, n/r, f/r) -> (b, 1, n, f): conv_in, mid block, up blocks (widths reversed,
    layers_per_block + 1 resnets each), norm, silu, conv."""

    def __init__(self, cfg: MelVAEConfig):
        super().__init__()
        widths, groups = cfg.block_out_channels[::-1], cfg.norm_num_groups
        self.conv_in = nn.Conv2d(cfg.latent_channels, widths[0], 3, padding=1)
        self.mid_block = UNetMidBlock2D(widths[0], groups)
        self.up_blocks = nn.ModuleList(
            UpDecoderBlock2D(
                widths[max(i - 1, 0)], c, cfg.layers_per_block + 1, groups, i < len(widths) - 1
            )
            for i, c in enumerate(widths)
        )
        self.conv_norm_out = _norm(groups, widths[-1])
        self.conv_out = nn.Conv2d(widths[-1], cfg.out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mid_block(self.conv_in(z))  # (b, c_last, n/r, f/r)
        for block in self.up_blocks:
            x = block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))  # (b, 1, n, f)


@dataclass
class MelPosterior:
    """q(z | mel) = N(mean, exp(logvar)), each (b, C, n/r, f/r); logvar clamped to [-30, 20]."""

    mean: torch.Tensor
    logvar: torch.Tensor

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def mode(self) -> torch.Tensor:
        """The mean (the latent used at inference)."""
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """mean + std · ε, ε ~ N(0, I) drawn with ``generator``."""
        eps = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * eps

    def kl(self) -> torch.Tensor:
        """KL(q ‖ N(0, I)) per sample, (b,): ½ Σ (mean² + var − 1 − logvar)."""
        terms = self.mean.square() + self.logvar.exp() - 1.0 - self.logvar
        return 0.5 * terms.flatten(1).sum(1)


class MelVAE(PretrainedModel):
    """Log-mel (b, n, f) <-> latent (b, C, n/r, f/r); n and f must be multiples of r."""

    family: ClassVar[ModelFamily] = TTA_VAE_FAMILY

    def __init__(self, config: MelVAEConfig):
        super().__init__()
        self.config = config
        c = config.latent_channels
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quant_conv = nn.Conv2d(2 * c, 2 * c, 1)
        self.post_quant_conv = nn.Conv2d(c, c, 1)

    def encode(self, mel: torch.Tensor) -> MelPosterior:
        """Log-mel (b, n, f) -> the posterior over latents (b, C, n/r, f/r)."""
        r, f = self.config.downsample_factor, self.config.n_mels
        if mel.dim() != 3 or mel.shape[-1] != f or mel.shape[1] % r:
            raise FlowvoxError(
                f"mel VAE input: expected a log-mel (batch, frames, {f}) with frames a multiple "
                f"of {r}, got {tuple(mel.shape)}; pad or cut the frames to a multiple of {r}"
            )
        moments = self.quant_conv(self.encoder(mel.unsqueeze(1)))  # (b, 2C, n/r, f/r)
        mean, logvar = moments.chunk(2, dim=1)
        return MelPosterior(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (b, C, n', f') -> log-mel (b, n'·r, f'·r)."""
        if z.dim() != 4 or z.shape[1] != self.config.latent_channels:
            raise FlowvoxError(
                f"mel VAE decode: expected latents (batch, {self.config.latent_channels}, "
                f"frames, bins), got {tuple(z.shape)}"
            )
        return self.decoder(self.post_quant_conv(z)).squeeze(1)  # (b, n, f)

    def to_latent(
        self, mel: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The generator's latent s · z, z the posterior mean (or a draw when ``sample``),
        s = ``scaling_factor``; (b, n, f) -> (b, C, n/r, f/r)."""
        posterior = self.encode(mel)
        z = posterior.sample(generator) if sample else posterior.mode()
        return z * self.config.scaling_factor

    def from_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """Inverse of ``to_latent``: decode(latent / s); (b, C, n', f') -> (b, n'·r, f'·r)."""
        return self.decode(latent / self.config.scaling_factor)

    def save_pretrained(  # type: ignore[override]  # a VAE has no vocab
        self, folder: str | os.PathLike, extra: dict | None = None
    ) -> Path:
        """Write a new model folder: model.safetensors + config.json stamped "tta_vae"."""
        return save_model_dir(folder, self, None, extra)

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, device: str | torch.device = "cpu"
    ) -> MelVAE:
        """The VAE of a "tta_vae" model folder, in eval mode on ``device``."""
        return load_vae(folder, device)


def load_vae(folder: str | os.PathLike, device: str | torch.device = "cpu") -> MelVAE:
    """The ``MelVAE`` of a model folder stamped "tta_vae" (written by ``save_pretrained``),
    in eval mode on ``device`` (``flowvox.models.loading.load_model``: another family, a
    newer format or unfitting weights are one-line ``FlowvoxError``s). A released diffusers
    ``vae/`` folder loads with ``flowvox.models.tta.release.load_diffusers_vae`` instead."""
    return load_model(folder, MelVAE, device)
