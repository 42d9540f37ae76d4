"""The semantic tokenizer's network: frame rates and shapes, padded batches equal lone rows,
the pooling and Whisper-scaling formulas, a causal decoder, clear errors on bad input."""
# b: batch, n: mel frames, f: mel bins, m: 25 Hz frames, d: channels, l: tokens, v: vocab

from __future__ import annotations

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.config import BYTE_VOCAB, SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer, batch_text_tokens
from flowvox.models.semantic.network import pool_frames, whisper_features


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SemanticTokenizer(SemanticConfig.preset("tiny")).eval()


def log_mel(b: int, n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, n, 80, generator=torch.Generator().manual_seed(seed)) * 2 - 6


@pytest.mark.parametrize("n, m", [(1, 1), (4, 1), (5, 2), (8, 2), (100, 25), (101, 26)])
def test_100_hz_mels_give_25_hz_embeddings(model, n, m):
    enc = model.encode(log_mel(1, n))
    assert enc.emb.shape == (1, m, 64) and enc.mask.all()
    assert model.config.token_frames(n) == m
    assert model.config.token_rate == 25.0


def test_padded_batch_rows_equal_lone_rows(model):
    mels, lengths = log_mel(3, 37, seed=1), torch.tensor([37, 20, 9])
    with torch.no_grad():
        batch = model.encode(mels, lengths)
        assert batch.mask.sum(1).tolist() == [10, 5, 3]
        inputs, _ = batch_text_tokens(["abc", "hello", "x"])
        logits = model.decode_logits(batch.emb, inputs, batch.mask)  # (b, l, v)
        codes = model.quantize(batch.emb, batch.mask).codes  # (b, m)
        for row, n in enumerate(lengths.tolist()):
            alone = model.encode(mels[row : row + 1, :n])
            m = alone.emb.shape[1]
            torch.testing.assert_close(batch.emb[row, :m], alone.emb[0], atol=1e-5, rtol=1e-5)
            assert batch.emb[row, m:].abs().sum() == 0  # padding rows are zero
            row_logits = model.decode_logits(alone.emb, inputs[row : row + 1])
            torch.testing.assert_close(logits[row], row_logits[0], atol=1e-4, rtol=1e-4)
            own_codes = model.quantize(alone.emb).codes[0]
            assert codes[row, :m].tolist() == own_codes.tolist()
            assert (codes[row, m:] == model.config.mask_code).all()


def test_decoder_is_causal(model):
    emb = torch.randn(1, 6, 64)
    tokens = torch.tensor([[256, 104, 105, 33]])
    changed = tokens.clone()
    changed[0, 3] = 63
    with torch.no_grad():
        a, b = model.decode_logits(emb, tokens), model.decode_logits(emb, changed)
    assert a.shape == (1, 4, BYTE_VOCAB)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert (a[:, 3] - b[:, 3]).abs().max() > 1e-4


def test_pool_is_the_mean_of_real_frames():
    x = torch.arange(10.0).reshape(1, 5, 2)  # frames (0,1), (2,3), ..., (8,9)
    mask = torch.tensor([[True, True, True, True, False]])
    pooled, pooled_mask = pool_frames(x, mask, 2)
    assert pooled.tolist() == [[[1.0, 2.0], [5.0, 6.0], [0.0, 0.0]]]
    assert pooled_mask.tolist() == [[True, True, False]]
    pooled, _ = pool_frames(x, torch.ones(1, 5, dtype=torch.bool), 2)
    assert pooled[0, 2].tolist() == [8.0, 9.0]  # a last window of one frame


def test_whisper_features_formula():
    x = torch.tensor([[[0.0, -30.0], [2.0, -1.0]]])  # ln mel (1, 2, 2)
    top = 2.0 / math.log(10)
    expected = [max(v / math.log(10), top - 8.0) for v in (0.0, -30.0, 2.0, -1.0)]
    out = whisper_features(x).flatten().tolist()
    assert out == pytest.approx([(v + 4) / 4 for v in expected], abs=1e-6)
    masked = whisper_features(x, torch.tensor([[True, False]]))  # the max of row frame 0 only
    assert masked[0, 0, 1].item() == pytest.approx((-8.0 + 4) / 4, abs=1e-6)


def test_bad_inputs_are_clear_errors(model):
    with pytest.raises(FlowvoxError, match=r"expected a log-mel \(batch, frames, 80\)"):
        model.encode(torch.zeros(1, 10, 64))
    with pytest.raises(FlowvoxError, match="longer than the semantic encoder"):
        model.encode(torch.zeros(1, 3002, 80))
    with pytest.raises(FlowvoxError, match="exceed the decoder's 256 positions"):
        model.decode_logits(torch.zeros(1, 3, 64), torch.zeros(1, 257, dtype=torch.long))
    with pytest.raises(FlowvoxError, match="holds no real frame"):
        model.decode_logits(torch.zeros(1, 3, 64), torch.zeros(1, 2, dtype=torch.long),
                            torch.zeros(1, 3, dtype=torch.bool))  # fmt: skip
