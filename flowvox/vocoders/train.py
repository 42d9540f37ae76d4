"""Vocoder GAN training on the shared trainer: ``task: vocoder`` (Vocos or HiFi-GAN).

# b: batch, n: mel frames, f: mel bins, s: samples
Each step cuts a random segment x (b, s) of every clip, computes its log-mel m with the
vocoder's own mel preset, and generates x̂ = G(m). Then, in order (two AdamW groups):

    discriminator:  L_D = Σ_k [ mean((1 − D_k(x))²) + mean(D_k(x̂.detach())²) ]
    generator:      L_G = w_adv·Σ_k mean((1 − D_k(x̂))²) + w_fm·Σ_kj mean|F_kj(x) − F_kj(x̂)|
                          + w_mel·L_mel(x̂, x) (+ w_stft·L_stft(x̂, x))

over the sub-discriminators k of MPD/MRD/MSD (``flowvox.vocoders.gan``). For the first
``loss.adversarial_start_step`` steps the generator learns from L_mel (+ L_stft) alone and the
discriminators neither run nor update (Vocos' ``pretrain_mel_steps``, Parallel WaveGAN's
``discriminator_train_start_steps``): on a CPU such a step costs about a tenth of a GAN step.
L_mel is the multi-resolution log-mel L1 (HiFi-GAN weight 45); L_stft is Parallel WaveGAN's
spectral convergence + log magnitude (off by default). Real and generated audio pass the
discriminators as one batch (one forward per loss, as DDP wants). The exported folder holds
the generator's EMA weights and ``{"family", "config"}`` so ``load_vocoder`` reads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from flowvox.audio.mel import MelSpectrogram
from flowvox.errors import FlowvoxError
from flowvox.train.task import (
    MediaSink,
    OptimizerGroup,
    StepContext,
    StepOutput,
    TrainData,
    TrainTask,
)
from flowvox.vocoders.gan.discriminators import (
    DiscriminatorConfig,
    DiscriminatorOutput,
    Discriminators,
)
from flowvox.vocoders.gan.losses import (
    MultiResolutionMelLoss,
    MultiResolutionSTFTLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from flowvox.vocoders.hifigan import HIFIGAN_PRESETS, HiFiGAN, HiFiGANConfig
from flowvox.vocoders.train_data import (
    ClipBatch,
    ClipCollate,
    ClipDataset,
    VocoderDataConfig,
    cut_segments,
    load_clip,
    read_entries,
)
from flowvox.vocoders.vocos.model import Vocos, VocosConfig

# family -> (config class, model class, named presets: name -> config fields)
TRAINABLE = {
    "vocos": (VocosConfig, Vocos, {"vocos-mel-24khz": {}}),
    "hifigan": (HiFiGANConfig, HiFiGAN, HIFIGAN_PRESETS),
}


def vocoder_config(section: Mapping[str, Any]) -> VocosConfig | HiFiGANConfig:
    """The family config a run file's ``model:`` section describes.

    ``family`` (vocos | hifigan), optional ``preset`` (vocos: vocos-mel-24khz, the default
    shape; hifigan: v1 | v2 | v3), then any of the family config's own fields, which win
    over the preset's; ``mel`` is a preset name or a full mel dict.
    """
    fields = dict(section)
    family = fields.pop("family", None)
    if family not in TRAINABLE:
        raise FlowvoxError(f"model.family {family!r}: use one of {sorted(TRAINABLE)}")
    config_cls, _, presets = TRAINABLE[family]
    preset = fields.pop("preset", None)
    if preset is not None and preset not in presets:
        raise FlowvoxError(f"model.preset {preset!r} for {family}: use one of {sorted(presets)}")
    try:
        return config_cls.from_dict({**presets.get(preset, {}), **fields})
    except (FlowvoxError, TypeError) as err:
        raise FlowvoxError(f"model: {err}") from err


@dataclass
class VocoderLossConfig:
    """Weights of the generator loss terms and the reconstruction-loss resolutions."""

    mel_weight: float = 45.0
    feature_matching_weight: float = 2.0
    adversarial_weight: float = 1.0
    # (n_fft, hop, win, n_mels) per resolution; log-mels over 0 .. mel_f_max (None: Nyquist)
    mel_resolutions: tuple[tuple[int, int, int, int], ...] = (
        (512, 128, 512, 40),
        (1024, 256, 1024, 80),
        (2048, 512, 2048, 128),
    )
    mel_f_max: float | None = None
    stft_weight: float = 0.0  # 0: no multi-resolution STFT loss
    adversarial_start_step: int = 0  # steps of reconstruction loss alone before the GAN
    stft_resolutions: tuple[tuple[int, int, int], ...] = (
        (1024, 120, 600),
        (2048, 240, 1200),
        (512, 50, 240),
    )

    def __post_init__(self) -> None:
        weights = ("mel_weight", "feature_matching_weight", "adversarial_weight", "stft_weight")
        for name in (*weights, "adversarial_start_step"):
            if getattr(self, name) < 0:
                raise FlowvoxError(f"loss.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class VocoderConfig:
    """The task's run-file sections: ``model``, ``discriminators``, ``loss``, ``data``."""

    model: dict[str, Any] = field(default_factory=lambda: {"family": "vocos"})
    discriminators: DiscriminatorConfig = field(default_factory=DiscriminatorConfig.default)
    loss: VocoderLossConfig = field(default_factory=VocoderLossConfig)
    data: VocoderDataConfig = field(default_factory=VocoderDataConfig)

    def __post_init__(self) -> None:
        self.generator_config()  # a bad model section fails when the run file is read

    def generator_config(self) -> VocosConfig | HiFiGANConfig:
        return vocoder_config(self.model)


@dataclass
class VocoderSegment:
    """One training segment batch: audio (b, s) and its log-mel (b, n, f)."""

    wav: torch.Tensor
    mel: torch.Tensor


class VocoderTask(TrainTask):
    """Vocos / HiFi-GAN GAN training (see the module docstring)."""

    config_class = VocoderConfig
    export_module = "generator"

    def __init__(self, config: VocoderConfig):
        super().__init__(config)
        self.family = config.model["family"]
        self.generator_config = config.generator_config()
        self.mel_config = self.generator_config.mel
        self.segment_frames = config.data.frames(
            self.mel_config.sample_rate, self.mel_config.hop_length
        )
        self.segment_samples = self.segment_frames * self.mel_config.hop_length
        self._validation: torch.Tensor | None = None  # (s,), loaded by the first log_media
        self._logged_reference = False  # the reference audio/mel is logged once

    # ------------------------------------------------------------------ modules
    def build_modules(self) -> dict[str, nn.Module]:
        loss = self.config.loss
        _, model_cls, _ = TRAINABLE[self.family]
        return {
            "generator": model_cls(self.generator_config),
            "discriminators": Discriminators(self.config.discriminators),
            # frozen (buffers only): moved to the device by the trainer
            "mel": MelSpectrogram(self.mel_config),
            "mel_loss": MultiResolutionMelLoss(
                self.mel_config.sample_rate, loss.mel_resolutions, loss.mel_f_max
            ),
            "stft_loss": MultiResolutionSTFTLoss(loss.stft_resolutions),
        }

    def optimizer_groups(self, modules: Mapping[str, nn.Module]) -> list[OptimizerGroup]:
        return [
            OptimizerGroup("discriminator", ("discriminators",)),
            OptimizerGroup("generator", ("generator",)),
        ]

    # ------------------------------------------------------------------ data
    def train_data(self) -> TrainData:
        data = self.config.data
        entries, _ = read_entries(data)
        dataset = ClipDataset(entries, self.mel_config.sample_rate, data.peak_db is not None)
        lengths = [self.segment_frames] * len(dataset)  # every item costs one segment
        return TrainData(dataset, lengths, ClipCollate(self.segment_samples))

    def segments(
        self, modules: Mapping[str, nn.Module], batch: ClipBatch, generator: torch.Generator
    ) -> VocoderSegment:
        """Random segments of ``batch`` and their log-mels (no gradient)."""
        wav = cut_segments(batch, self.segment_samples, generator, self.config.data.peak_db)
        with torch.no_grad():
            mel = modules["mel"](wav).transpose(1, 2)  # (b, n, f)
        return VocoderSegment(wav, mel)

    # ------------------------------------------------------------------ step
    def training_step(
        self, modules: Mapping[str, nn.Module], batch: ClipBatch, ctx: StepContext
    ) -> Iterator[StepOutput]:
        loss = self.config.loss
        seg = self.segments(modules, batch, ctx.generator)
        b, n, _ = seg.mel.shape
        fake = modules["generator"](seg.mel)  # (b, s)
        if fake.shape != seg.wav.shape:
            raise FlowvoxError(
                f"the {self.family} generator made {tuple(fake.shape)} samples from {n} frames, "
                f"expected {tuple(seg.wav.shape)}; make the generator's framing fit the mel "
                "(vocos: padding 'center' for a centred mel, 'same' for an uncentred one)"
            )
        real = seg.wav
        if ctx.step < loss.adversarial_start_step:
            yield self._reconstruction_output(modules, fake, real, b * n)
            return

        scores = modules["discriminators"](torch.cat([real, fake.detach()]))
        real_out, fake_out = split_halves(scores, b)
        d_loss = discriminator_loss(real_out.logits, fake_out.logits)
        yield StepOutput(d_loss, "discriminator")

        scores = modules["discriminators"](torch.cat([real, fake]))
        real_out, fake_out = split_halves(scores, b)
        adversarial = generator_adversarial_loss(fake_out.logits)
        matching = feature_matching_loss(real_out.feature_maps, fake_out.feature_maps)
        mel = modules["mel_loss"](fake, real)
        g_loss = (
            loss.adversarial_weight * adversarial
            + loss.feature_matching_weight * matching
            + loss.mel_weight * mel
        )
        terms = {
            "adversarial": adversarial.detach(),
            "feature_matching": matching.detach(),
            "mel": mel.detach(),
        }
        if loss.stft_weight > 0:
            stft = modules["stft_loss"](fake, real).total
            g_loss = g_loss + loss.stft_weight * stft
            terms["stft"] = stft.detach()
        yield StepOutput(g_loss, "generator", terms=terms, frames=b * n)

    def _reconstruction_output(
        self, modules: Mapping[str, nn.Module], fake: torch.Tensor, real: torch.Tensor, frames: int
    ) -> StepOutput:
        """The generator's step before ``adversarial_start_step``: L_mel (+ L_stft) only."""
        loss = self.config.loss
        mel = modules["mel_loss"](fake, real)
        g_loss = loss.mel_weight * mel
        terms = {"mel": mel.detach()}
        if loss.stft_weight > 0:
            stft = modules["stft_loss"](fake, real).total
            g_loss = g_loss + loss.stft_weight * stft
            terms["stft"] = stft.detach()
        return StepOutput(g_loss, "generator", terms=terms, frames=frames)

    # ------------------------------------------------------------------ media
    def validation_clip(self) -> torch.Tensor:
        """The fixed validation clip (s,) at the vocoder's sample rate, cut to whole frames."""
        if self._validation is None:
            data = self.config.data
            path = data.validation_audio or read_entries(data)[1].audio
            wav = load_clip(path, self.mel_config.sample_rate, data.peak_db is not None)
            if data.peak_db is not None:
                wav = wav * 10.0 ** (data.peak_db[1] / 20.0)
            hop = self.mel_config.hop_length
            keep = min(len(wav), int(data.validation_seconds * self.mel_config.sample_rate))
            self._validation = wav[: max(keep // hop * hop, 2 * hop)]
        return self._validation

    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """The EMA generator on the validation clip: its audio, its mel image, and
        ``vocoder/mel_l1`` = mean|mel(G(mel(x))) − mel(x)| in the vocoder's own preset."""
        generator, front_end = modules["generator"], modules["mel"]
        device = next(generator.parameters()).device
        real = self.validation_clip().to(device)[None]  # (1, s)
        mel = front_end(real).transpose(1, 2)  # (1, n, f)
        fake = generator(mel).float()  # (1, s')
        fake_mel = front_end(fake).transpose(1, 2)  # (1, n', f)
        n = min(mel.shape[1], fake_mel.shape[1])
        sink.scalar("vocoder/mel_l1", float((fake_mel[:, :n] - mel[:, :n]).abs().mean()))
        sink.audio("vocoder/generated", fake[0].clamp(-1, 1).cpu(), self.mel_config.sample_rate)
        sink.image("vocoder/generated_mel", fake_mel[0].T.cpu())  # (f, n)
        if not self._logged_reference:
            sink.audio("vocoder/reference", real[0].cpu(), self.mel_config.sample_rate)
            sink.image("vocoder/reference_mel", mel[0].T.cpu())
            self._logged_reference = True

    # ------------------------------------------------------------------ export
    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """``flowvox.vocoders.load_vocoder``'s format, plus the run file under ``run``."""
        return {
            "family": self.family,
            "config": self.generator_config.to_dict(),
            "run": run_dict,
        }


def split_halves(out: DiscriminatorOutput, b: int) -> tuple[DiscriminatorOutput, ...]:
    """Scores of a (2b, s) batch [real; fake] -> (real, fake) outputs of b rows each."""
    halves = []
    for part in (slice(0, b), slice(b, 2 * b)):
        logits = [x[part] for x in out.logits]
        fmaps = [[f[part] for f in layers] for layers in out.feature_maps]
        halves.append(DiscriminatorOutput(logits, fmaps))
    return tuple(halves)
