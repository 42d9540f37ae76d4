"""The cosine VQ: codes in range with the mask code at padding, the nearest code by cosine,
the straight-through gradient, the loss terms, and dequantize = quantize's output."""
# b: batch, m: frames, d: channels, c: codebook channels, K: codebook size

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.vq import CosineVQ


@pytest.fixture
def vq():
    torch.manual_seed(0)
    return CosineVQ(SemanticConfig.preset("tiny", ["codebook_size=16", "vq_post_depth=1"]))


def test_codes_are_the_nearest_by_cosine_and_in_range(vq):
    emb = torch.randn(2, 7, 64)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    out = vq(emb, mask)
    assert out.codes.shape == (2, 7) and out.quantized.shape == (2, 7, 64)
    assert out.codes[mask].min() >= 0 and out.codes[mask].max() < 16
    assert (out.codes[~mask] == 16).all()  # the mask code
    assert out.quantized[~mask].abs().sum() == 0
    z = F.normalize(vq.in_proj(emb), dim=-1)  # (b, m, c)
    sims = z @ F.normalize(vq.codebook, dim=-1).T  # (b, m, K)
    assert torch.equal(out.codes[mask], sims.argmax(-1)[mask])
    # the quantiser's losses are the squared distance of z to its code, over real frames
    chosen = F.normalize(vq.codebook, dim=-1)[sims.argmax(-1)]
    expected = (chosen - z).square()[mask].mean()
    torch.testing.assert_close(out.codebook_loss, expected)
    torch.testing.assert_close(out.commitment_loss, expected)


def test_straight_through_gradient(vq):
    """Forward uses the code vector q; backward passes ∂L/∂q to z unchanged, and the codebook
    learns only through the codebook loss."""
    emb = torch.randn(1, 5, 64, requires_grad=True)
    out = vq(emb)
    weights = torch.randn_like(out.quantized)
    (out.quantized * weights).sum().backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert vq.codebook.grad is None  # no gradient through the lookup
    # the same loss with q fed in directly: ∂L/∂q must equal the ∂L/∂z that reached z
    q = F.normalize(vq.codebook, dim=-1)[out.codes].detach().requires_grad_(True)
    (vq.expand(q, torch.ones(1, 5, dtype=torch.bool)) * weights).sum().backward()
    emb2 = emb.detach().requires_grad_(True)
    z = F.normalize(vq.in_proj(emb2), dim=-1)
    (z * q.grad).sum().backward()
    torch.testing.assert_close(emb.grad, emb2.grad)
    vq.zero_grad()
    vq(emb.detach()).codebook_loss.backward()
    assert vq.codebook.grad.abs().sum() > 0


def test_dequantize_gives_what_quantize_gave(vq):
    vq.eval()
    emb, mask = torch.randn(2, 6, 64), torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    out = vq(emb, mask)
    again, again_mask = vq.dequantize(out.codes)
    assert torch.equal(again_mask, mask)
    torch.testing.assert_close(again, out.quantized)


def test_codes_out_of_range_are_refused(vq):
    for bad in (-1, 17):
        with pytest.raises(FlowvoxError, match=r"must lie in 0 \.\. 16 \(16 = mask\)"):
            vq.dequantize(torch.tensor([[0, bad]]))
