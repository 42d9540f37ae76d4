"""RoPE against a hand computation, v0/v1 head selection, SDPA attention and key padding."""
# b: batch, h: heads, n: frames, d: channels, e: channels per head

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.nn.attention import Attention, RotaryEmbedding, apply_rope, rotate_pairs


def test_inv_freq_is_base_power_and_kept_in_state_dict():
    rope = RotaryEmbedding(8)
    expected = torch.tensor([10000 ** (-i / 8) for i in (0, 2, 4, 6)])
    torch.testing.assert_close(rope.inv_freq, expected)
    assert list(rope.state_dict()) == ["inv_freq"]


def test_rotate_pairs_interleaved():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert rotate_pairs(x).tolist() == [-2.0, 1.0, -4.0, 3.0, -6.0, 5.0]


def test_rope_matches_hand_rotation_of_pairs():
    # e = 4, base 10000: θ_0 = 1, θ_1 = 10000^(-1/2) = 0.01.
    tables = RotaryEmbedding(4)(5)
    x = torch.randn(2, 3, 5, 4, generator=torch.Generator().manual_seed(0))  # (b, h, n, e)
    y = apply_rope(x, tables)
    for p in range(5):
        for i, theta in enumerate((1.0, 0.01)):
            a, b = x[..., p, 2 * i], x[..., p, 2 * i + 1]
            c, s = math.cos(p * theta), math.sin(p * theta)
            torch.testing.assert_close(y[..., p, 2 * i], a * c - b * s)
            torch.testing.assert_close(y[..., p, 2 * i + 1], b * c + a * s)


def test_rope_keeps_dtype_and_norm():
    x = torch.randn(1, 1, 7, 8).to(torch.bfloat16)
    y = apply_rope(x, RotaryEmbedding(8)(7))
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float().norm(dim=-1), x.float().norm(dim=-1), rtol=2e-2, atol=0)


def _pair(seed: int = 0) -> tuple[Attention, Attention]:
    torch.manual_seed(seed)
    all_heads = Attention(dim=32, heads=4, dim_head=8, rope_heads=None)
    first_head = Attention(dim=32, heads=4, dim_head=8, rope_heads=1)
    first_head.load_state_dict(all_heads.state_dict())
    return all_heads, first_head


def test_v0_rotates_only_the_first_head_and_v1_all():
    v1, v0 = _pair()
    x = torch.randn(2, 6, 32)
    tables = RotaryEmbedding(8)(6)
    q1, k1, v1_values = v1.qkv(x, tables)
    q0, k0, v0_values = v0.qkv(x, tables)
    q_plain, k_plain, _ = v1.qkv(x, None)
    torch.testing.assert_close(v1_values, v0_values)
    torch.testing.assert_close(q0[:, :1], q1[:, :1])  # head 0 rotated in both
    torch.testing.assert_close(k0[:, :1], k1[:, :1])
    torch.testing.assert_close(q0[:, 1:], q_plain[:, 1:])  # v0: other heads untouched
    torch.testing.assert_close(k0[:, 1:], k_plain[:, 1:])
    torch.testing.assert_close(q1, apply_rope(q_plain, tables))  # v1: every head rotated
    assert not torch.allclose(q1[:, 1:], q_plain[:, 1:])


def test_attention_equals_softmax_formula():
    attn, _ = _pair(1)
    x = torch.randn(2, 5, 32)
    tables = RotaryEmbedding(8)(5)
    q, k, v = attn.qkv(x, tables)
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)  # (b, h, n, n)
    mixed = (weights @ v).transpose(1, 2).reshape(2, 5, 32)
    expected = attn.to_out[0](mixed)
    torch.testing.assert_close(attn(x, tables), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rope_heads", [None, 1])
def test_key_padding_mask_gives_the_unpadded_result(rope_heads):
    torch.manual_seed(2)
    attn = Attention(dim=32, heads=4, dim_head=8, rope_heads=rope_heads).eval()
    x = torch.randn(2, 9, 32)
    lengths = [9, 5]
    mask = torch.arange(9)[None] < torch.tensor(lengths)[:, None]
    tables = RotaryEmbedding(8)(9)
    out = attn(x, tables, mask)
    alone = attn(x[1:, :5], RotaryEmbedding(8)(5))
    torch.testing.assert_close(out[1, :5], alone[0], atol=1e-5, rtol=1e-5)
    assert out[1, 5:].abs().max() == 0  # output zeroed at padding
    attended = attn(x, tables, mask, mask_keys=False)  # F5 release default: keys not masked
    assert (attended[1, :5] - alone[0]).abs().max() > 1e-3
    assert attended[1, 5:].abs().max() == 0


def test_rope_refuses_an_odd_head_width():
    with pytest.raises(FlowvoxError, match="dim_head 7 is odd; RoPE rotates channel pairs"):
        RotaryEmbedding(7)
