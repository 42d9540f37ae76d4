"""AdaLN-zero modulation order, the reversed final norm, tanh-GELU feed-forward."""
# b: batch, n: frames, d: channels

import torch
from torch.nn import functional as F

from flowvox.nn.dit_block import AdaLayerNorm, AdaLayerNormFinal, DiTBlock, FeedForward
from flowvox.nn.norms import RMSNorm


def _bias_only(linear: torch.nn.Linear, bias: torch.Tensor) -> None:
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.copy_(bias)


def _ln(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6)


def test_adaln_chunk_order():
    d = 4
    norm = AdaLayerNorm(d)
    parts = [torch.full((d,), v) for v in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)]
    _bias_only(norm.linear, torch.cat(parts))
    x = torch.randn(2, 3, d)
    mod = norm(x, torch.randn(2, d))
    torch.testing.assert_close(mod.x, _ln(x) * (1 + 0.2) + 0.1)  # scale_msa 0.2, shift_msa 0.1
    for got, value in zip(
        mod[1:], (0.3, 0.4, 0.5, 0.6), strict=True
    ):  # gate_msa, shift/scale/gate_mlp
        torch.testing.assert_close(got, torch.full((2, d), value))
    assert norm.norm.eps == 1e-6 and not norm.norm.elementwise_affine


def test_final_norm_is_scale_then_shift():
    d = 4
    norm = AdaLayerNormFinal(d)
    _bias_only(norm.linear, torch.cat([torch.full((d,), 0.7), torch.full((d,), -0.2)]))
    x = torch.randn(2, 3, d)
    torch.testing.assert_close(norm(x, torch.randn(2, d)), _ln(x) * (1 + 0.7) - 0.2)


def test_feed_forward_uses_tanh_gelu():
    torch.manual_seed(0)
    ff = FeedForward(8, mult=2)
    x = torch.randn(3, 8) * 3
    lin1, lin2 = ff.ff[0][0], ff.ff[2]
    expected = lin2(F.gelu(lin1(x), approximate="tanh"))
    exact = lin2(F.gelu(lin1(x)))
    torch.testing.assert_close(ff(x), expected)
    assert (ff(x) - exact).abs().max() > 1e-5
    assert lin1.out_features == 16


def test_block_with_zero_modulation_is_identity_and_gates_scale_branches():
    torch.manual_seed(1)
    block = DiTBlock(16, heads=2, dim_head=8, ff_mult=2, dropout=0.0).eval()
    x, c = torch.randn(2, 5, 16), torch.randn(2, 16)
    _bias_only(block.attn_norm.linear, torch.zeros(96))
    torch.testing.assert_close(block(x, c), x)  # gates 0: AdaLN-zero starts as identity
    gate_attn_only = torch.zeros(96)
    gate_attn_only[32:48] = 1.0  # gate_msa = 1, everything else 0
    _bias_only(block.attn_norm.linear, gate_attn_only)
    torch.testing.assert_close(block(x, c), x + block.attn(_ln(x)), atol=1e-6, rtol=1e-6)


def test_rms_norm_formula():
    norm = RMSNorm(4)
    with torch.no_grad():
        norm.g.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
    x = torch.tensor([[1.0, 2.0, 2.0, 4.0]])  # norm 5, rms 2.5
    torch.testing.assert_close(norm(x), x / 2.5 * norm.g)
