"""Sinusoid layouts (time: sin|cos, scale 1000; text positions: cos|sin), time MLP names,
masked convolutional position embedding."""
# b: batch, n: frames, d: channels

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.nn.embeddings import (
    ConvPositionEmbedding,
    TimestepEmbedding,
    position_sinusoid,
    time_sinusoid,
)


def test_time_sinusoid_is_sin_then_cos_with_scale_1000():
    t = torch.tensor([0.5, 0.02])
    out = time_sinusoid(t, dim=8)
    freqs = [math.exp(-i * math.log(10000) / 3) for i in range(4)]  # half - 1 = 3
    for row, tv in enumerate(t.tolist()):
        expected = [math.sin(1000 * tv * w) for w in freqs] + [
            math.cos(1000 * tv * w) for w in freqs
        ]
        torch.testing.assert_close(out[row], torch.tensor(expected), atol=1e-4, rtol=1e-5)


def test_position_sinusoid_is_cos_then_sin_and_clamps():
    table = position_sinusoid(6, 4, max_pos=4)
    freqs = [1.0, 10000 ** (-2 / 4)]
    for p in range(6):
        q = min(p, 3)  # positions past max_pos - 1 repeat the last row
        expected = [math.cos(q * w) for w in freqs] + [math.sin(q * w) for w in freqs]
        torch.testing.assert_close(table[p], torch.tensor(expected))


def test_timestep_embedding_names_and_shape():
    emb = TimestepEmbedding(16)
    assert sorted(emb.state_dict()) == [
        "time_mlp.0.bias",
        "time_mlp.0.weight",
        "time_mlp.2.bias",
        "time_mlp.2.weight",
    ]
    assert emb.time_mlp[0].in_features == 256
    assert isinstance(emb.time_mlp[1], torch.nn.SiLU)
    assert emb(torch.rand(3)).shape == (3, 16)


def test_conv_position_embedding_uses_mish_and_masks_padding():
    torch.manual_seed(0)
    conv = ConvPositionEmbedding(32)
    assert [type(m).__name__ for m in conv.conv1d] == ["Conv1d", "Mish", "Conv1d", "Mish"]
    assert conv.conv1d[0].kernel_size == (31,) and conv.conv1d[0].groups == 16
    x = torch.randn(2, 40, 32)
    mask = torch.arange(40)[None] < torch.tensor([40, 23])[:, None]
    out = conv(x, mask)
    alone = conv(x[1:, :23])
    torch.testing.assert_close(out[1, :23], alone[0], atol=1e-5, rtol=1e-5)
    assert out[1, 23:].abs().max() == 0
    torch.testing.assert_close(out[0], conv(x[:1])[0], atol=1e-5, rtol=1e-5)
    unmasked = conv(x)  # without the mask the padding leaks into the valid frames
    assert (unmasked[1, :23] - alone[0]).abs().max() > 1e-3


def test_conv_position_embedding_refuses_an_even_kernel():
    with pytest.raises(FlowvoxError, match="kernel_size 30 is even; use an odd kernel"):
        ConvPositionEmbedding(32, kernel_size=30)
