"""Vocoder GAN losses: least-squares adversarial, feature matching, multi-resolution mel/STFT.

# b: batch, s: samples, k: frequency bins, n: frames, f: mel bins
Adversarial terms take the per-sub-discriminator lists of a ``DiscriminatorOutput`` and sum
over sub-discriminators (HiFi-GAN's convention); the weights (HiFi-GAN: mel 45, feature
matching 2) belong to the trainer. Reconstruction losses take waveforms (b, s) and average
over their resolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from flowvox.audio.mel import MelConfig, MelSpectrogram
from flowvox.errors import FlowvoxError


def discriminator_loss(
    real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]
) -> torch.Tensor:
    """LSGAN discriminator loss: Σ_i [ mean((1 − D_i(x))²) + mean(D_i(x̂)²) ]."""
    if len(real_logits) != len(fake_logits) or not real_logits:
        raise FlowvoxError(
            f"discriminator_loss: {len(real_logits)} real and {len(fake_logits)} fake logit maps; "
            "pass the .logits of one discriminator's outputs on real and generated audio"
        )
    total = real_logits[0].new_zeros(())
    for real, fake in zip(real_logits, fake_logits, strict=True):
        total = total + (1.0 - real).square().mean() + fake.square().mean()
    return total


def generator_adversarial_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN generator loss: Σ_i mean((1 − D_i(x̂))²)."""
    total = fake_logits[0].new_zeros(())
    for fake in fake_logits:
        total = total + (1.0 - fake).square().mean()
    return total


def feature_matching_loss(
    real_fmaps: list[list[torch.Tensor]], fake_fmaps: list[list[torch.Tensor]]
) -> torch.Tensor:
    """Σ_i Σ_j mean|F_ij(x) − F_ij(x̂)| over sub-discriminators i and layers j.

    Real feature maps are targets: no gradient flows into them.
    """
    if len(real_fmaps) != len(fake_fmaps) or not fake_fmaps:
        raise FlowvoxError(
            f"feature_matching_loss: {len(real_fmaps)} real and {len(fake_fmaps)} fake "
            "feature-map lists; pass the .feature_maps of one discriminator's outputs on real "
            "and generated audio"
        )
    total = fake_fmaps[0][0].new_zeros(())
    for real_layers, fake_layers in zip(real_fmaps, fake_fmaps, strict=True):
        for real, fake in zip(real_layers, fake_layers, strict=True):
            total = total + (real.detach() - fake).abs().mean()
    return total


class MultiResolutionMelLoss(nn.Module):
    """mean_r mean|log mel_r(x̂) − log mel_r(x)| over (n_fft, hop, win, n_mels) resolutions.

    Each resolution is a centred, HTK-scale magnitude mel with log floor 1e-5 and 1e-9 added
    to the energy before the root (so that a silent bin gives a finite gradient), from 0 Hz to
    ``f_max`` (None: Nyquist) at ``sample_rate`` — build it with ``for_mel`` to follow a preset.
    """

    def __init__(
        self,
        sample_rate: int,
        resolutions: tuple[tuple[int, int, int, int], ...] = (
            (512, 128, 512, 40),
            (1024, 256, 1024, 80),
            (2048, 512, 2048, 128),
        ),
        f_max: float | None = None,
    ):
        super().__init__()
        self.mels = nn.ModuleList(
            MelSpectrogram(
                MelConfig(
                    name=f"mel_loss_{n_fft}",
                    sample_rate=sample_rate,
                    n_fft=n_fft,
                    hop_length=hop,
                    win_length=win,
                    n_mels=n_mels,
                    f_max=f_max,
                    magnitude_eps=1e-9,  # d sqrt(e)/de is infinite at e = 0: NaN gradients
                )
            )
            for n_fft, hop, win, n_mels in resolutions
        )

    @classmethod
    def for_mel(cls, mel: MelConfig, **kwargs) -> MultiResolutionMelLoss:
        """Resolutions at the preset's sample rate and upper frequency."""
        return cls(mel.sample_rate, f_max=mel.f_max, **kwargs)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Waveforms (b, s) each -> scalar loss."""
        losses = [(mel(fake) - mel(real)).abs().mean() for mel in self.mels]  # (b, f, n) each
        return torch.stack(losses).mean()


@dataclass
class STFTLoss:
    """Both terms of the multi-resolution STFT loss, averaged over resolutions."""

    spectral_convergence: torch.Tensor
    log_magnitude: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.spectral_convergence + self.log_magnitude


class MultiResolutionSTFTLoss(nn.Module):
    """Parallel WaveGAN's loss over (n_fft, hop, win) resolutions, Hann windows:

    spectral convergence ‖ |X| − |X̂| ‖_F / ‖ |X| ‖_F (per utterance, then batch mean) and
    log magnitude mean|log|X| − log|X̂||, with |X| = sqrt(max(re² + im², 1e-7)).
    """

    def __init__(
        self,
        resolutions: tuple[tuple[int, int, int], ...] = (
            (1024, 120, 600),
            (2048, 240, 1200),
            (512, 50, 240),
        ),
    ):
        super().__init__()
        self.resolutions = tuple(tuple(r) for r in resolutions)

    @staticmethod
    def magnitude(wav: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
        """(b, s) -> (b, k, n) floored magnitude."""
        window = torch.hann_window(win, device=wav.device)
        spec = torch.stft(wav.float(), n_fft, hop, win, window, return_complex=True)
        return (spec.real.square() + spec.imag.square()).clamp(min=1e-7).sqrt()

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> STFTLoss:
        """Waveforms (b, s) each -> ``STFTLoss`` of scalars."""
        convergence, log_mag = [], []
        for n_fft, hop, win in self.resolutions:
            mag_fake = self.magnitude(fake, n_fft, hop, win)
            mag_real = self.magnitude(real, n_fft, hop, win)
            error = (mag_real - mag_fake).flatten(1).norm(dim=1)  # (b,)
            convergence.append((error / mag_real.flatten(1).norm(dim=1)).mean())
            log_mag.append((mag_real.log() - mag_fake.log()).abs().mean())
        return STFTLoss(torch.stack(convergence).mean(), torch.stack(log_mag).mean())
