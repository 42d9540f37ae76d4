"""Batched vocoding: each mel of a padded Vocos batch gives what it gives alone."""

import numpy as np
import pytest
import torch

from flowvox.infer.vocode import vocode_mels
from flowvox.vocoders import Vocos, VocosConfig


def random_vocos(padding: str) -> Vocos:
    torch.manual_seed(0)
    vocos = Vocos(VocosConfig(dim=32, hidden_dim=64, num_layers=3, padding=padding)).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move biases, norms and gamma off their init so every term counts
        for p in vocos.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.1)
    return vocos


@pytest.mark.parametrize("padding", ["center", "same"])
@pytest.mark.parametrize("budget", [4096, 120])
def test_padded_vocos_batch_equals_each_mel_alone(padding, budget):
    vocos = random_vocos(padding)
    generator = torch.Generator().manual_seed(2)
    lengths = [37, 5, 80, 12, 37]
    mels = [torch.randn(n, 100, generator=generator) * 2 - 4 for n in lengths]
    got = vocode_mels(vocos, mels, frame_budget=budget)
    for mel, wav in zip(mels, got, strict=True):
        with torch.inference_mode():
            want = vocos(mel[None])[0].numpy()
        assert wav.shape == want.shape == (vocos.config.num_samples(mel.shape[0]),)
        np.testing.assert_allclose(wav, want, atol=1e-5, rtol=1e-4)


def test_vocos_batches_respect_the_frame_budget_and_padding_cap():
    vocos = random_vocos("center")
    calls = []
    vocos.backbone.final_layer_norm.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    mels = [torch.randn(n, 100) for n in (43, 40, 42, 41)]
    vocode_mels(vocos, mels)  # the final norm runs once per batch
    vocode_mels(vocos, mels, frame_budget=86)  # sorted: [40, 41] (2·41 ≤ 86), [42, 43]
    vocode_mels(vocos, [mels[0], torch.randn(10, 100)])  # 10 + 43 < 90 % of 2·43: apart
    assert calls == [4, 2, 2, 1, 1]


def test_other_vocoders_are_called_once_per_mel():
    shapes = []

    class Echo(torch.nn.Module):
        def forward(self, mel):
            shapes.append(tuple(mel.shape))
            return mel.sum(-1)  # (1, n)

    wavs = vocode_mels(Echo(), [torch.ones(3, 4), torch.ones(5, 4)])
    assert shapes == [(1, 3, 4), (1, 5, 4)]
    assert [w.tolist() for w in wavs] == [[4.0] * 3, [4.0] * 5]
