"""Training task ``tta_vae``: the mel VAE of latent text-to-audio (AudioLDM / LAFMA recipe).

Run file (see ``configs/tta-vae-tiny.yaml``)::

    task: tta_vae
    train: {...}                 # flowvox.train.TrainConfig; max_frames counts mel frames
    model: tiny                  # a MelVAEConfig preset, {preset: tiny, ...}, or the fields
    discriminator: {channels: 64, layers: 3}
    loss: {kl_weight: 1.0e-8, adversarial_start_step: 20001, ...}
    data: {prepared: prepared/, segment_frames: 256}   # a `flowvox prepare --mel-preset lafma16k`

Each step cuts a random ``segment_frames`` window x (b, n, f) of every mel, encodes it to
q(z | x) = N(μ, σ²), draws z = μ + σ ε and decodes x̂ = D(z). With E = n · f mel elements,
LDM's per-sample sums divided by E (so LDM's weight ratios hold):

    generator:      L_G = mean|x − x̂| (+ w_l2 · mean (x − x̂)²) + w_kl · KL(q ‖ N(0, I)) / E
                          + w_adv · mean (1 − D(x̂))²                  (once the GAN starts)
    discriminator:  L_D = mean (1 − D(x))² + mean D(x̂.detach())²      (LSGAN)

D is a 2-D PatchGAN over the mel image (b, 1, n, f). For steps < ``loss.adversarial_start_step``
(LAFMA: 20,001) the discriminator neither runs nor updates, and L_G has no adversarial term.

Export: ``OUT/model`` is a MelVAE folder (family "tta_vae", ``MelVAE.from_pretrained``) of
the EMA weights. Its ``scaling_factor`` is set at export as LDM does: s = 1 / std(μ) over the
posterior means μ of the first ``data.scale_items`` training mels (their first
``segment_frames`` frames), so the generator's latents s · μ have unit standard deviation.
"""
# b: batch, n: mel frames, f: mel bins, c: channels, C: latent channels

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.audio.mel import get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.models.loading import stamp_family
from flowvox.models.prepared_data import prepared_folder, read_split
from flowvox.models.tta.vae import MelVAE
from flowvox.models.tta.vae_config import TTA_VAE_FAMILY, MelVAEConfig
from flowvox.train.task import (
    MediaSink,
    OptimizerGroup,
    StepContext,
    StepOutput,
    TrainData,
    TrainTask,
)
from flowvox.vocoders.gan.losses import discriminator_loss, generator_adversarial_loss


@dataclass
class PatchDiscriminatorConfig:
    """pix2pix's N-layer PatchGAN: ``layers`` stride-2 4×4 convs (widths ``channels`` · 2^i,
    capped at 8×), one stride-1 conv, then a 1-channel 4×4 conv of patch logits."""

    channels: int = 64
    layers: int = 3


class PatchDiscriminator(nn.Module):
    """Mel image (b, 1, n, f) -> patch logits (b, 1, n', f'); GroupNorm, not BatchNorm, so
    real and fake batches do not share statistics."""

    def __init__(self, config: PatchDiscriminatorConfig):
        super().__init__()
        c = config.channels
        widths = [c * min(2**i, 8) for i in range(config.layers + 1)]
        convs: list[nn.Module] = [nn.Conv2d(1, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, config.layers + 1):
            stride = 2 if i < config.layers else 1
            convs += [
                nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1),
                nn.GroupNorm(min(8, widths[i]), widths[i]),
                nn.LeakyReLU(0.2),
            ]
        convs.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))
        self.net = nn.Sequential(*convs)

    def forward(self, mel: Tensor) -> Tensor:
        return self.net(mel)


@dataclass
class VAELossConfig:
    """Weights of the generator loss terms (see the module docstring)."""

    l2_weight: float = 0.0  # 0: L1 alone; > 0: L1 + w · L2
    kl_weight: float = 1.0e-8
    adversarial_weight: float = 0.5
    adversarial_start_step: int = 20001

    def __post_init__(self) -> None:
        for name in ("l2_weight", "kl_weight", "adversarial_weight", "adversarial_start_step"):
            if getattr(self, name) < 0:
                raise FlowvoxError(f"loss.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class VAEDataConfig:
    """Mels of a prepared folder (mel preset = the model's ``mel``), cut to segments."""

    prepared: str | None = None
    split: str = "train"
    segment_frames: int = 256  # a multiple of the VAE's down-sampling factor
    scale_items: int = 16  # mels whose latents set the exported scaling_factor
    media_index: int = 0  # the media mel: this item of ``split``


@dataclass
class VAETaskConfig:
    """The ``model``, ``discriminator``, ``loss`` and ``data`` sections of a run file."""

    model: str | dict[str, Any] = "tiny"
    discriminator: PatchDiscriminatorConfig = field(default_factory=PatchDiscriminatorConfig)
    loss: VAELossConfig = field(default_factory=VAELossConfig)
    data: VAEDataConfig = field(default_factory=VAEDataConfig)


@dataclass
class MelBatch:
    """Mels (b, n, f) zero-padded to the longest, with their frame counts (b,)."""

    mels: Tensor
    lengths: Tensor

    def to(self, device: torch.device | str) -> MelBatch:
        return MelBatch(self.mels.to(device), self.lengths.to(device))


def collate_mels(mels: Sequence[Tensor]) -> MelBatch:
    n = max(m.shape[0] for m in mels)
    padded = torch.stack([F.pad(m, (0, 0, 0, n - m.shape[0])) for m in mels])
    return MelBatch(padded, torch.tensor([m.shape[0] for m in mels]))


class _Mels(torch.utils.data.Dataset):
    """The log-mels (n, f) of a ``MelDataset``."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Tensor:
        return self.dataset[index].mel


class MelVAETask(TrainTask):
    """Trains ``MelVAE`` with a PatchGAN (see the module docstring)."""

    config_class = VAETaskConfig
    export_module = "model"

    def __init__(self, config: VAETaskConfig) -> None:
        super().__init__(config)
        self.model_config = MelVAEConfig.from_section(config.model)
        config.model = self.model_config.to_dict()  # what checkpoints and export store
        r, n = self.model_config.downsample_factor, config.data.segment_frames
        if n < r or n % r:
            raise FlowvoxError(
                f"data.segment_frames={n}: use a positive multiple of the VAE's down-sampling "
                f"factor {r}"
            )
        self.mel_config = get_mel_preset(self.model_config.mel)
        self._scaling_factor: float | None = None  # set by export_state_dict

    def build_modules(self) -> dict[str, nn.Module]:
        return {
            "model": MelVAE(self.model_config),
            "discriminator": PatchDiscriminator(self.config.discriminator),
        }

    def optimizer_groups(self, modules: Mapping[str, nn.Module]) -> list[OptimizerGroup]:
        return [
            OptimizerGroup("discriminator", ("discriminator",)),
            OptimizerGroup("generator", ("model",)),
        ]

    # ------------------------------------------------------------------ data
    def _mels(self) -> _Mels:
        data = self.config.data
        mels = read_split(prepared_folder(data), data.split, self.mel_config)
        return _Mels(mels)

    def train_data(self) -> TrainData:
        data = self.config.data
        dataset = self._mels()
        keep = [i for i, n in enumerate(dataset.dataset.lengths) if n >= data.segment_frames]
        if not keep:
            raise FlowvoxError(
                f"{data.prepared}: no {data.split} mel has {data.segment_frames} frames; "
                "lower data.segment_frames or prepare longer clips"
            )
        lengths = [data.segment_frames] * len(keep)  # every item costs one segment
        return TrainData(torch.utils.data.Subset(dataset, keep), lengths, collate_mels)

    def segments(self, batch: MelBatch, generator: torch.Generator) -> Tensor:
        """A random ``segment_frames`` window of each mel: (b, n, f) -> (b, segment, f)."""
        n = self.config.data.segment_frames
        rows = []
        for mel, length in zip(batch.mels, batch.lengths.tolist(), strict=True):
            start = int(torch.randint(0, length - n + 1, (), generator=generator))
            rows.append(mel[start : start + n])
        return torch.stack(rows)

    # ------------------------------------------------------------------ step
    def training_step(
        self, modules: Mapping[str, nn.Module], batch: MelBatch, ctx: StepContext
    ) -> Iterator[StepOutput]:
        loss = self.config.loss
        real = self.segments(batch, ctx.generator)  # (b, n, f)
        b, n, f = real.shape
        wrapped = modules["model"]
        vae: MelVAE = getattr(wrapped, "module", wrapped)  # DDP keeps it in .module
        posterior = vae.encode(real)  # (b, C, n/r, f/r)
        fake = vae.decode(posterior.sample(ctx.device_generator))  # (b, n, f)
        l1 = (fake - real).abs().mean()
        kl = posterior.kl().mean() / (n * f)
        g_loss = l1 + loss.kl_weight * kl
        terms: dict[str, Tensor | float] = {"l1": l1.detach(), "kl": kl.detach()}
        if loss.l2_weight > 0:
            l2 = (fake - real).square().mean()
            g_loss = g_loss + loss.l2_weight * l2
            terms["l2"] = l2.detach()
        if ctx.step >= loss.adversarial_start_step:
            pair = torch.cat([real, fake.detach()]).unsqueeze(1)  # (2b, 1, n, f)
            scores = modules["discriminator"](pair)
            d_loss = discriminator_loss([scores[:b]], [scores[b:]])
            yield StepOutput(d_loss, "discriminator", terms={"discriminator": d_loss.detach()})
            adversarial = generator_adversarial_loss([modules["discriminator"](fake.unsqueeze(1))])
            g_loss = g_loss + loss.adversarial_weight * adversarial
            terms["adversarial"] = adversarial.detach()
        yield StepOutput(g_loss, "generator", terms=terms, frames=b * n)

    # ------------------------------------------------------------------ media
    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """The media mel's first segment, true (top) over its reconstruction from the
        posterior mean (bottom), and ``vae/mel_l1`` = mean|x − D(μ(x))| on it."""
        vae: MelVAE = modules[self.export_module]
        device = next(vae.parameters()).device
        mel = self._mels()[self.config.data.media_index]
        r = self.model_config.downsample_factor
        n = min(self.config.data.segment_frames, mel.shape[0] // r * r)
        real = mel[:n].to(device)[None]  # (1, n, f)
        fake = vae.decode(vae.encode(real).mode()).float()  # (1, n, f)
        sink.scalar("vae/mel_l1", float((fake - real).abs().mean()))
        sink.image("mel/reconstructed_bottom_true_top", torch.cat([fake[0].T, real[0].T]).cpu())

    # ------------------------------------------------------------------ export
    def latent_std(self, vae: MelVAE) -> float:
        """std of the posterior means over the first ``data.scale_items`` training mels (their
        first ``segment_frames`` frames), in batches of 4."""
        data = self.config.data
        dataset = self.train_data().dataset
        count = min(data.scale_items, len(dataset))
        means = []
        with torch.no_grad():
            for start in range(0, count, 4):
                mels = [
                    dataset[i][: data.segment_frames] for i in range(start, min(start + 4, count))
                ]
                means.append(vae.encode(torch.stack(mels)).mode().flatten())
        return float(torch.cat(means).std())

    def export_state_dict(self, ema_state: dict[str, Tensor]) -> dict[str, Tensor]:
        """The EMA weights as they are; also computes the exported ``scaling_factor`` =
        1 / ``latent_std`` of the EMA VAE (used by ``export_config``, called after this)."""
        vae = MelVAE(self.model_config)
        vae.load_state_dict({k: v.float().cpu() for k, v in ema_state.items()})
        self._scaling_factor = 1.0 / max(self.latent_std(vae.eval()), 1e-8)
        return ema_state

    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run file with the family stamp and the VAE's fields (``scaling_factor`` set)
        as ``model``: ``flowvox.models.tta.vae.load_vae``'s format."""
        assert self._scaling_factor is not None, "export_state_dict runs first"
        model = self.model_config.replace(scaling_factor=self._scaling_factor)
        return stamp_family({**run_dict, "model": model.to_dict()}, TTA_VAE_FAMILY)
