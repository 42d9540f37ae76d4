"""GRN and the ConvNeXt-V2 block against hand computations."""
# b: batch, n: frames, d: channels, h: hidden channels

import torch
from torch.nn import functional as F

from flowvox.nn.convnext_v2 import GRN, ConvNeXtV2Block


def test_grn_formula_over_the_sequence_axis():
    grn = GRN(3)
    with torch.no_grad():
        grn.gamma.copy_(torch.tensor([[[0.5, -1.0, 2.0]]]))
        grn.beta.copy_(torch.tensor([[[0.1, 0.2, 0.3]]]))
    assert grn.gamma.shape == (1, 1, 3)
    x = torch.tensor([[[3.0, 0.0, 1.0], [4.0, 2.0, 1.0]]])  # (1, 2, 3)
    g = torch.tensor([5.0, 2.0, 2**0.5])  # column norms over n
    nx = g / (g.mean() + 1e-6)
    expected = grn.gamma * (x * nx) + grn.beta + x
    torch.testing.assert_close(grn(x), expected)


def test_grn_mask_counts_only_valid_frames():
    torch.manual_seed(0)
    grn = GRN(4)
    with torch.no_grad():
        grn.gamma.normal_()
    x = torch.randn(1, 6, 4)
    mask = torch.tensor([[True, True, True, True, False, False]])
    torch.testing.assert_close(grn(x, mask)[:, :4], grn(x[:, :4]))


def test_block_matches_hand_computation_with_exact_gelu():
    torch.manual_seed(1)
    block = ConvNeXtV2Block(8, 16)
    with torch.no_grad():
        block.grn.gamma.normal_()
        block.grn.beta.normal_()
    assert block.norm.eps == 1e-6 and block.dwconv.groups == 8
    x = torch.randn(2, 11, 8)
    h = F.conv1d(x.transpose(1, 2), block.dwconv.weight, block.dwconv.bias, padding=3, groups=8)
    h = F.layer_norm(h.transpose(1, 2), (8,), block.norm.weight, block.norm.bias, eps=1e-6)
    h = F.gelu(F.linear(h, block.pwconv1.weight, block.pwconv1.bias))  # exact (erf) GELU
    g = h.norm(dim=1, keepdim=True)
    h = block.grn.gamma * (h * g / (g.mean(-1, keepdim=True) + 1e-6)) + block.grn.beta + h
    expected = x + F.linear(h, block.pwconv2.weight, block.pwconv2.bias)
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)
    assert block.act.approximate == "none"
