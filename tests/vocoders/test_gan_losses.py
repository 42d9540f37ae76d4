"""GAN losses against values worked out by hand."""

import math

import pytest
import torch

from flowvox.audio.mel import get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.vocoders.gan.losses import (
    MultiResolutionMelLoss,
    MultiResolutionSTFTLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)


def t(*values):
    return torch.tensor([list(values)])  # (1, m) logits


def test_lsgan_losses_by_hand():
    real = [t(1.0, 0.5), t(0.0)]
    fake = [t(0.0, 1.0), t(-1.0)]
    # D: [(0² + 0.5²)/2 + (0² + 1²)/2] + [(1²)/1 + (1²)/1] = 0.125 + 0.5 + 1 + 1
    assert discriminator_loss(real, fake).item() == pytest.approx(2.625)
    # G: [(1² + 0²)/2] + [(2²)/1] = 0.5 + 4
    assert generator_adversarial_loss(fake).item() == pytest.approx(4.5)
    perfect = discriminator_loss([t(1.0, 1.0)], [t(0.0, 0.0)])
    assert perfect.item() == 0.0


def test_feature_matching_by_hand_and_real_side_gets_no_gradient():
    real = [[torch.tensor([1.0, 2.0]), torch.tensor([[0.0]])], [torch.tensor([3.0, 3.0, 3.0])]]
    real = [[x.clone().requires_grad_() for x in layers] for layers in real]
    fake = [[torch.tensor([0.0, 4.0]), torch.tensor([[-2.0]])], [torch.tensor([3.0, 0.0, 6.0])]]
    fake = [[x.clone().requires_grad_() for x in layers] for layers in fake]
    # (|1| + |−2|)/2 + |2|/1 + (0 + 3 + 3)/3 = 1.5 + 2 + 2
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx(5.5)
    loss.backward()
    assert all(x.grad is None for layers in real for x in layers)
    assert fake[0][0].grad.tolist() == [-0.5, 0.5]  # d/dx mean|r − x| = −sign(r − x)/2


def noise(samples: int = 6000, seed: int = 0) -> torch.Tensor:
    return torch.randn(2, samples, generator=torch.Generator().manual_seed(seed)) * 0.3


def test_stft_loss_zero_on_identical_and_exact_on_a_scaled_copy():
    loss = MultiResolutionSTFTLoss()
    real = noise()
    same = loss(real.clone(), real)
    assert same.spectral_convergence.item() == 0.0 and same.log_magnitude.item() == 0.0
    # |X̂| = |X| / 2: convergence ‖X/2‖/‖X‖ = 1/2, log magnitude |log 2| (floor is negligible)
    half = loss(0.5 * real, real)
    assert half.spectral_convergence.item() == pytest.approx(0.5, abs=1e-4)
    assert half.log_magnitude.item() == pytest.approx(math.log(2.0), abs=1e-3)
    assert half.total.item() == pytest.approx(0.5 + math.log(2.0), abs=1e-3)
    other = loss(noise(seed=1), real)
    assert other.spectral_convergence.item() > 0.5 and other.log_magnitude.item() > 0.1


@pytest.mark.parametrize("name", ["vocos24k", "hifigan22k", "lafma16k"])
def test_mel_loss_follows_the_preset_and_is_exact_on_a_scaled_copy(name):
    mel = get_mel_preset(name)
    loss = MultiResolutionMelLoss.for_mel(mel)
    assert all(m.config.sample_rate == mel.sample_rate for m in loss.mels)
    assert all(m.config.f_max == mel.f_max for m in loss.mels)
    real = noise(mel.sample_rate // 4)
    assert loss(real.clone(), real).item() == 0.0
    # every mel bin is far above the log floor, so log mel(x/2) = log mel(x) − log 2
    assert loss(0.5 * real, real).item() == pytest.approx(math.log(2.0), abs=1e-4)


def test_mel_loss_gradient_reaches_the_fake_waveform():
    loss = MultiResolutionMelLoss(16000)
    fake = noise(4000, seed=2).requires_grad_()
    loss(fake, noise(4000)).backward()
    assert fake.grad.abs().sum() > 0


def test_mel_loss_gradient_is_finite_on_silence():
    # |STFT| = sqrt(energy) has an infinite slope at 0: a silent stretch must not give NaN
    from flowvox.audio.mel import get_mel_preset

    loss_fn = MultiResolutionMelLoss.for_mel(get_mel_preset("hifigan22k"))
    noise = torch.randn(2, 4096, generator=torch.Generator().manual_seed(0)) * 0.1
    real = noise[:1]
    fake = torch.cat(
        [torch.zeros(1, 4096), noise[1:]], dim=1
    ).requires_grad_()  # silence, then sound
    loss_fn(fake, torch.cat([real, real], dim=1)).backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


def test_adversarial_losses_refuse_mismatched_lists():
    with pytest.raises(FlowvoxError, match="2 real and 1 fake logit maps"):
        discriminator_loss([t(1.0), t(0.5)], [t(0.0)])
    with pytest.raises(FlowvoxError, match="1 real and 2 fake feature-map lists"):
        feature_matching_loss([[t(1.0)]], [[t(1.0)], [t(0.0)]])
