"""Text encoder: shapes, padding independence, conditioning, blank interspersing, bad input."""
# b: batch, l: tokens, d: channels, f: mel channels, c: condition channels

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.nn.text_encoder import (
    TextEncoder,
    TextEncoderConfig,
    intersperse,
    intersperse_padded,
)


def tiny(**overrides) -> TextEncoderConfig:
    base = dict(vocab_size=20, out_dim=8, dim=32, depth=2, heads=2, ffn_dim=64, dropout=0.1)
    return TextEncoderConfig(**{**base, **overrides})


def test_intersperse():
    assert intersperse([5, 6, 7], 0) == [0, 5, 0, 6, 0, 7, 0]
    assert intersperse([], 3) == [3]


def test_intersperse_padded_matches_per_item():
    ids = torch.tensor([[4, 5, 6], [7, 8, 0]])
    out = intersperse_padded(ids, torch.tensor([3, 2]), blank=1, pad=0)
    assert out.lengths.tolist() == [7, 5]
    assert out.ids[0].tolist() == intersperse([4, 5, 6], 1)
    assert out.ids[1].tolist() == intersperse([7, 8], 1) + [0, 0]


def test_shapes_and_zero_padding():
    torch.manual_seed(0)
    enc = TextEncoder(tiny()).eval()
    ids = torch.randint(0, 20, (3, 9))
    out = enc(ids, torch.tensor([9, 4, 1]))
    assert out.mu.shape == (3, 9, 8) and out.hidden.shape == (3, 9, 32)
    assert out.mask.tolist()[1] == [True] * 4 + [False] * 5
    assert bool((out.mu[1, 4:] == 0).all()) and bool((out.hidden[2, 1:] == 0).all())
    assert bool((out.mu[1, :4].abs().sum(-1) > 0).all())


@pytest.mark.parametrize("prenet_layers", [0, 3])
def test_padded_batch_equals_each_item_alone(prenet_layers):
    torch.manual_seed(1)
    enc = TextEncoder(tiny(prenet_layers=prenet_layers, cond_dim=4)).eval()
    with torch.no_grad():  # zero-initialised biases (LayerNorm, prenet) would hide a leak
        for p in enc.parameters():
            p.add_(0.1 * torch.randn_like(p))
    lengths = torch.tensor([11, 6, 3])
    ids = torch.randint(0, 20, (3, 11))
    ids[1, 6:] = 13  # padding ids differ from item to item: they must not matter
    ids[2, 3:] = 2
    cond = torch.randn(3, 4)
    batch = enc(ids, lengths, cond)
    for k, n_tok in enumerate(lengths.tolist()):
        alone = enc(ids[k : k + 1, :n_tok], None, cond[k : k + 1])
        torch.testing.assert_close(batch.mu[k, :n_tok], alone.mu[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(batch.hidden[k, :n_tok], alone.hidden[0], rtol=1e-5, atol=1e-5)


def test_tokens_see_each_other_and_order_matters():
    torch.manual_seed(2)
    enc = TextEncoder(tiny(prenet_layers=0)).eval()
    ids = torch.tensor([[3, 4, 5, 6, 7]])
    base = enc(ids).mu
    changed = ids.clone()
    changed[0, 4] = 9  # the last token alters the first token's mean through attention
    assert not torch.allclose(enc(changed).mu[0, 0], base[0, 0])
    # order-aware (RoPE, convolutions): reversed input is not the reversed output
    assert not torch.allclose(enc(ids.flip(1)).mu.flip(1), base, atol=1e-4)


def test_condition_changes_output_and_gradients_flow():
    torch.manual_seed(3)
    enc = TextEncoder(tiny(cond_dim=4))
    ids = torch.randint(0, 20, (2, 5))
    out = enc(ids, cond=torch.randn(2, 4))
    out.mu.sum().backward()
    assert enc.embed.weight.grad is not None and enc.cond_proj.weight.grad.abs().sum() > 0
    enc.eval()
    a = enc(ids, cond=torch.zeros(2, 4)).mu
    b = enc(ids, cond=torch.ones(2, 4)).mu
    assert not torch.allclose(a, b)


def test_bad_input_and_config():
    enc = TextEncoder(tiny())
    with pytest.raises(FlowvoxError, match="vocab_size"):
        enc(torch.tensor([[1, 25]]))
    with pytest.raises(FlowvoxError, match="cond_dim"):
        enc(torch.tensor([[1, 2]]), cond=torch.zeros(1, 4))
    with pytest.raises(FlowvoxError, match="text lengths"):
        enc(torch.tensor([[1, 2]]), torch.tensor([0]))
    with pytest.raises(FlowvoxError, match="even integer"):
        tiny(dim=30, heads=2)
    with pytest.raises(FlowvoxError, match="odd"):
        tiny(ffn_kernel=4)
