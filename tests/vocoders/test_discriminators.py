"""Discriminator output shapes for tiny configs, worked out by hand from the conv arithmetic."""

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.vocoders.gan.discriminators import (
    DiscriminatorConfig,
    Discriminators,
    MPDConfig,
    MRDConfig,
    MSDConfig,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    MultiScaleDiscriminator,
)

TINY_MPD = MPDConfig(periods=(2, 3, 5), channels=(4, 8, 8))
TINY_MRD = MRDConfig(resolutions=((64, 16, 64), (128, 32, 128)), channels=4)
TINY_MSD = MSDConfig(channels=(4, 8, 16, 16, 16, 16, 16))


def conv_out(length: int, kernel: int, stride: int, pad: int) -> int:
    return (length + 2 * pad - kernel) // stride + 1


def wav(batch: int = 2, samples: int = 1000) -> torch.Tensor:
    return torch.randn(batch, samples, generator=torch.Generator().manual_seed(0))


def test_mpd_shapes():
    out = MultiPeriodDiscriminator(TINY_MPD)(wav())
    assert len(out.logits) == len(out.feature_maps) == 3
    for p, logits, fmaps in zip((2, 3, 5), out.logits, out.feature_maps, strict=True):
        rows = -(-1000 // p)  # reflect-padded up to a multiple of p
        for _ in range(2):  # two stride-3 convs, kernel 5, padding 2; the last keeps length
            rows = conv_out(rows, 5, 3, 2)
        assert [f.shape for f in fmaps] == [
            (2, 4, conv_out(-(-1000 // p), 5, 3, 2), p),
            (2, 8, rows, p),
            (2, 8, rows, p),
            (2, 1, rows, p),
        ]
        assert logits.shape == (2, rows * p)


def test_mrd_shapes():
    out = MultiResolutionDiscriminator(TINY_MRD)(wav())
    assert len(out.logits) == 2
    # (kernel, stride, padding) over (frequency, time) for the five convs
    layers = [((7, 5), (2, 2), (3, 2)), ((5, 3), (2, 1), (2, 1)), ((5, 3), (2, 2), (2, 1))]
    layers += [((3, 3), (2, 1), (1, 1)), ((3, 3), (2, 2), (1, 1))]
    for (n_fft, hop, _), logits, fmaps in zip(
        TINY_MRD.resolutions, out.logits, out.feature_maps, strict=True
    ):
        k, n = n_fft // 2 + 1, 1000 // hop + 1  # centred STFT
        for layer, fmap in zip(layers, fmaps, strict=False):
            (kk, kn), (sk, sn), (pk, pn) = layer
            k, n = conv_out(k, kk, sk, pk), conv_out(n, kn, sn, pn)
            assert fmap.shape == (2, 4, k, n)
        assert fmaps[-1].shape == (2, 1, k, n)
        assert logits.shape == (2, k * n)


def test_msd_shapes():
    out = MultiScaleDiscriminator(TINY_MSD)(wav(samples=512))
    lengths = [512, conv_out(512, 4, 2, 2), conv_out(conv_out(512, 4, 2, 2), 4, 2, 2)]
    strides = [1, 2, 2, 4, 4, 1, 1]
    kernels = [15, 41, 41, 41, 41, 41, 5]
    for length, logits, fmaps in zip(lengths, out.logits, out.feature_maps, strict=True):
        for k, st, fmap, d in zip(kernels, strides, fmaps, TINY_MSD.channels, strict=False):
            length = conv_out(length, k, st, k // 2)
            assert fmap.shape == (2, d, length)
        assert logits.shape == (2, length)
    # the first scale is spectral-normed, the others weight-normed (HiFi-GAN)
    first, second = [d.convs[0] for d in MultiScaleDiscriminator(TINY_MSD).discriminators[:2]]
    assert "_u" in dict(first.parametrizations.weight[0].named_buffers())
    assert hasattr(second.parametrizations.weight, "original0")


def test_combined_concatenates_in_order_and_gradients_reach_the_input():
    disc = Discriminators(DiscriminatorConfig(mpd=TINY_MPD, mrd=TINY_MRD))
    fake = wav().requires_grad_()
    out = disc(fake)
    assert len(out.logits) == len(out.feature_maps) == 5
    assert out.logits[0].shape == MultiPeriodDiscriminator(TINY_MPD)(fake).logits[0].shape
    sum(logit.sum() for logit in out.logits).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    with pytest.raises(FlowvoxError, match="at least one"):
        Discriminators(DiscriminatorConfig())
    cfg = DiscriminatorConfig(mpd={"periods": [2], "channels": [4]})
    assert cfg.mpd == MPDConfig(periods=[2], channels=[4])


def test_default_discriminators_are_the_published_sizes():
    mpd = MultiPeriodDiscriminator()
    assert [d.period for d in mpd.discriminators] == [2, 3, 5, 7, 11]
    mrd = MultiResolutionDiscriminator()
    assert [(d.n_fft, d.hop, d.win) for d in mrd.discriminators] == [
        (512, 128, 512),
        (1024, 256, 1024),
        (2048, 512, 2048),
    ]
    # per conv: weights c_in·c_out·k, bias c_out, weight-norm gain c_out
    dims = [1, 32, 128, 512, 1024, 1024]
    expected = (
        sum(a * b * 5 + 2 * b for a, b in zip(dims[:-1], dims[1:], strict=True)) + 1024 * 3 + 2
    )
    assert sum(p.numel() for p in mpd.discriminators[0].parameters()) == expected


@pytest.mark.parametrize("shape", [(1000,), (2, 1, 1000)])
def test_discriminators_refuse_other_shapes_than_b_s(shape):
    for disc in (
        MultiPeriodDiscriminator(TINY_MPD),
        MultiResolutionDiscriminator(TINY_MRD),
        MultiScaleDiscriminator(TINY_MSD),
    ):
        with pytest.raises(FlowvoxError, match=r"takes waveforms \(b, s\), got shape"):
            disc(torch.zeros(shape))


def test_msd_needs_seven_channel_widths():
    with pytest.raises(FlowvoxError, match="MSDConfig.channels has 6 entries"):
        MultiScaleDiscriminator(MSDConfig(channels=(4, 8, 16, 16, 16, 16)))
