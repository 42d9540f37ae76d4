"""A tiny HiFi-GAN with MPD + MRD takes a few GAN steps on one clip: the mel loss falls."""

import math

import torch

from flowvox.audio.mel import MelSpectrogram, get_mel_preset
from flowvox.vocoders.gan.discriminators import (
    DiscriminatorConfig,
    Discriminators,
    MPDConfig,
    MRDConfig,
)
from flowvox.vocoders.gan.losses import (
    MultiResolutionMelLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from flowvox.vocoders.hifigan import HiFiGAN, HiFiGANConfig


def harmonic_clip(sample_rate: int, samples: int) -> torch.Tensor:
    """A 140 Hz voice-like tone: five harmonics with a slow amplitude swell, (1, s)."""
    t = torch.arange(samples) / sample_rate
    wave = sum(0.3 / h * torch.sin(2 * math.pi * 140 * h * t) for h in range(1, 6))
    return (wave * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t)))[None]


def test_tiny_gan_steps_lower_the_mel_loss():
    torch.manual_seed(0)
    mel_cfg = get_mel_preset("hifigan22k")
    generator = HiFiGAN(
        HiFiGANConfig(
            mel=mel_cfg,
            resblock="2",
            upsample_rates=(8, 8, 4),
            upsample_kernel_sizes=(16, 16, 8),
            upsample_initial_channel=32,
            resblock_kernel_sizes=(3,),
            resblock_dilation_sizes=((1, 3),),
        )
    )
    discs = Discriminators(
        DiscriminatorConfig(
            mpd=MPDConfig(periods=(2, 3), channels=(4, 8, 8)),
            mrd=MRDConfig(resolutions=((256, 64, 256),), channels=4),
        )
    )
    real = harmonic_clip(mel_cfg.sample_rate, 24 * 256)  # (1, s), 24 frames
    log_mel = MelSpectrogram(mel_cfg)(real).transpose(1, 2)  # (1, n, f)
    mel_loss = MultiResolutionMelLoss.for_mel(mel_cfg)
    opt_g = torch.optim.AdamW(generator.parameters(), lr=2e-3, betas=(0.8, 0.99))
    opt_d = torch.optim.AdamW(discs.parameters(), lr=2e-3, betas=(0.8, 0.99))
    losses = []
    for _ in range(20):
        fake = generator(log_mel)  # (1, s)
        assert fake.shape == real.shape
        d_out_real, d_out_fake = discs(real), discs(fake.detach())
        loss_d = discriminator_loss(d_out_real.logits, d_out_fake.logits)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        out_real, out_fake = discs(real), discs(fake)
        mel = mel_loss(fake, real)
        loss_g = (
            45.0 * mel
            + generator_adversarial_loss(out_fake.logits)
            + 2.0 * feature_matching_loss(out_real.feature_maps, out_fake.feature_maps)
        )
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        losses.append(mel.item())
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < 0.7 * losses[0], losses
