"""The torch side of the graphs, against closed forms and the modules they replace: the
windowed inverse real DFT basis, the pad-based overlap-add, Vocos and HiFi-GAN rewritten, and
the guided velocity of one doubled batch (no onnxruntime needed)."""
# b: batch, n: frames, f: mel bins, c: frequency bins, w: window taps

from __future__ import annotations

import pytest
import torch

from flowvox.infer.onnx.graphs import (
    GuidedVelocity,
    HiFiGANGraph,
    TorchGuidedVelocity,
    VocosGraph,
    inverse_rdft_basis,
    overlap_add_blocks,
)
from flowvox.vocoders import HiFiGAN, HiFiGANConfig, Vocos, VocosConfig
from flowvox.vocoders.vocos.model import overlap_add
from tests.models.aligned_helpers import random_model, tiny_config


@pytest.mark.parametrize("n_fft", [8, 1024])
def test_inverse_rdft_basis_is_irfft_times_window(n_fft):
    gen = torch.Generator().manual_seed(0)
    c = n_fft // 2 + 1
    spec = torch.complex(torch.randn(3, c, generator=gen), torch.randn(3, c, generator=gen))
    window = torch.hann_window(n_fft)
    cos, sin = inverse_rdft_basis(n_fft, window)
    assert cos.shape == sin.shape == (c, n_fft)
    got = spec.real @ cos + spec.imag @ sin  # (3, w)
    want = torch.fft.irfft(spec, n=n_fft) * window  # ignores Im of bins 0 and N/2, as the basis
    assert torch.allclose(got, want, atol=1e-6), (got - want).abs().max()
    spec[:, 0] += 5j  # the imaginary parts of DC and Nyquist drop out of both
    spec[:, -1] -= 3j
    assert torch.allclose(spec.real @ cos + spec.imag @ sin, got, atol=1e-6)


@pytest.mark.parametrize(("w", "hop"), [(16, 4), (10, 4), (7, 7)])
def test_overlap_add_blocks_sums_frames_every_hop(w, hop):
    frames = torch.randn(2, 5, w, generator=torch.Generator().manual_seed(1))
    direct = torch.zeros(2, 4 * hop + w)
    for t in range(5):
        direct[:, t * hop : t * hop + w] += frames[:, t]
    assert torch.allclose(overlap_add_blocks(frames, hop), direct, atol=1e-6)
    assert torch.equal(overlap_add_blocks(frames, hop), overlap_add(frames, hop))


@pytest.mark.parametrize("padding", ["center", "same"])
def test_vocos_graph_gives_vocos_numbers(padding):
    torch.manual_seed(0)
    vocos = Vocos(VocosConfig(dim=32, hidden_dim=64, num_layers=2, padding=padding)).eval()
    mel = torch.randn(2, 23, 100, generator=torch.Generator().manual_seed(2)) * 2 - 4
    with torch.no_grad():
        want, got = vocos(mel), VocosGraph(vocos)(mel)
    assert got.shape == want.shape == (2, vocos.config.num_samples(23))
    assert (got - want).abs().max() <= 1e-6 and want.abs().max() > 1e-3


def test_hifigan_graph_gives_hifigan_numbers_with_weight_norm_folded():
    config = HiFiGANConfig(
        upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 9), upsample_initial_channel=32,
        resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3),),
    )  # fmt: skip
    assert config.extra_samples == 1  # the odd last kernel: the graph must cut it
    torch.manual_seed(0)
    hifigan = HiFiGAN(config).eval()
    mel = torch.randn(1, 9, 80, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = HiFiGANGraph(hifigan)(mel)
        want = hifigan(mel)  # after the graph is built: the original keeps its weight norm
    assert got.shape == want.shape == (1, 9 * 256)
    assert (got - want).abs().max() <= 1e-6 and want.abs().max() > 1e-4
    assert any("parametrizations" in k for k in hifigan.state_dict())


@pytest.mark.parametrize("cfg", [0.0, 0.7, 2.5])
def test_guided_velocity_is_one_doubled_batch_of_the_torch_path(cfg):
    decoder = random_model(tiny_config(20, mel="vocos24k"), scale=0.1, dtype=torch.float32).decoder
    gen = torch.Generator().manual_seed(4)
    x_t, cond, mu = (torch.randn(2, 11, 100, generator=gen) for _ in range(3))
    mask = torch.arange(11)[None] < torch.tensor([[11], [6]])  # (2, 11)
    args = (x_t, torch.tensor([0.2, 0.9]), cond, mu, mask, torch.tensor(cfg))
    with torch.no_grad():
        got, want = GuidedVelocity(decoder)(*args), TorchGuidedVelocity(decoder)(*args)
        v_c = decoder(x_t, cond, mu, args[1], mask, *(torch.zeros(2, dtype=torch.bool),) * 2)
    assert (got - want).abs().max() <= 1e-5 and want.abs().max() > 0.1
    assert torch.equal(got[1, 6:], torch.zeros(5, 100))  # padding frames stay 0
    if cfg == 0.0:
        assert (got - v_c).abs().max() <= 1e-5  # guidance off: the conditional velocity
    else:
        assert (got - v_c).abs().max() > 1e-3  # the unconditional half moves it
