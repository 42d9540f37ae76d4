"""The autoregressive T2S network: shapes, causality, the KV-cache decode against the full
pass, files, and bad configs."""
# b: batch, l: text bytes, n: decoder positions, v: decoder vocab

from __future__ import annotations

import json

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.ar import ARTextToSemantic, load_ar, text_bytes
from flowvox.models.semantic.ar_config import BYTE_PAD, ARConfig
from flowvox.models.semantic.ar_generate import load_ar_pair
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer

TEXTS = ["hello world", "a much longer line of text", "hi"]


def tiny_model(seed: int = 0, **overrides) -> ARTextToSemantic:
    """A tiny model whose embeddings are widened (std 0.5) so logits are O(1), not ≈ 0."""
    torch.manual_seed(seed)
    config = ARConfig.preset("tiny", [f"{k}={v}" for k, v in overrides.items()])
    model = ARTextToSemantic(config).eval()
    for emb in (model.embed_tokens, model.embed_positions, model.embed_cps):
        torch.nn.init.normal_(emb.weight, std=0.5)
    return model


def test_vocabulary_and_presets():
    c = ARConfig.preset("tiny")
    assert (c.pad, c.bos, c.eos, c.vocab_size) == (512, 513, 514, 515)
    assert c.pad == SemanticConfig.preset("tiny").mask_code  # padded output dequantises
    n_small = sum(p.numel() for p in ARTextToSemantic(ARConfig.preset("small")).parameters())
    assert 10e6 < n_small < 13e6  # as the flow-matching T2S small (≈ 11.5M)
    assert c.inference_cps == 15.0 and c.replace(default_cps=12.5).inference_cps == 12.5


def test_shapes_and_text_bytes():
    model = tiny_model()
    ids, mask = text_bytes(TEXTS, 256)
    assert ids.shape == mask.shape == (3, len(TEXTS[1]))
    assert mask.sum(1).tolist() == [len(t) for t in TEXTS]
    assert int(ids[2, 2]) == BYTE_PAD and ids[0, :5].tolist() == list(b"hello")
    tokens = torch.randint(0, 512, (3, 7))
    logits = model(ids, mask, tokens, torch.tensor([10.0, 15.0, 30.0]))
    assert logits.shape == (3, 7, 515) and torch.isfinite(logits).all()
    assert text_bytes(["  é  "], 8)[0].tolist() == [[0xC3, 0xA9]]  # stripped, UTF-8


def test_cps_bins_follow_whisperspeech():
    model = tiny_model()
    bins = model.cps_bin(torch.tensor([0.0, 5.0, 15.0, 19.99, 20.0, 80.0]))
    assert bins.tolist() == [0, 8, 24, 31, 31, 31]  # ⌊cps / 20 · 32⌋, clamped
    ids, mask = text_bytes(["hello"], 64)
    tokens = torch.randint(0, 512, (1, 5))
    slow = model(ids, mask, tokens, torch.tensor([5.0]))
    fast = model(ids, mask, tokens, torch.tensor([15.0]))
    assert not torch.allclose(slow, fast)  # the condition reaches the logits


def test_future_tokens_do_not_change_earlier_logits():
    model = tiny_model()
    ids, mask = text_bytes(TEXTS[:2], 256)
    cps = torch.tensor([12.0, 12.0])
    tokens = torch.randint(0, 512, (2, 12))
    changed = tokens.clone()
    changed[:, 6:] = torch.randint(0, 512, (2, 6))
    a, b = model(ids, mask, tokens, cps), model(ids, mask, changed, cps)
    torch.testing.assert_close(a[:, :6], b[:, :6], rtol=0, atol=1e-6)
    assert (a[:, 7:] - b[:, 7:]).abs().max() > 1e-2


def test_padding_bytes_do_not_change_a_row():
    model = tiny_model()
    ids, mask = text_bytes(TEXTS, 256)
    tokens = torch.randint(0, 512, (3, 9))
    cps = torch.tensor([10.0, 14.0, 18.0])
    batched = model(ids, mask, tokens, cps)
    for row, text in enumerate(TEXTS):
        alone = model(*text_bytes([text], 256), tokens[row : row + 1], cps[row : row + 1])
        torch.testing.assert_close(batched[row : row + 1], alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("prefill", [1, 4])
def test_cached_decode_equals_the_full_pass(prefill):
    """decode_step over a KV cache (a prefill of ``prefill`` ids, then one at a time) gives
    the logits of the full causal pass within 1e-5, on a padded batch."""
    model = tiny_model()
    ids, mask = text_bytes(TEXTS, 256)
    cps = torch.tensor([10.0, 14.0, 18.0])
    tokens = torch.cat([torch.full((3, 1), model.config.bos), torch.randint(0, 512, (3, 15))], 1)
    with torch.no_grad():
        full = model(ids, mask, tokens, cps)  # (b, n, v)
        assert full.abs().max() > 1.0  # logits of real size, so 1e-5 means something
        cache = model.start_cache(ids, mask, cps, capacity=tokens.shape[1])
        steps = [model.decode_step(tokens[:, :prefill], cache)]
        steps += [model.decode_step(tokens[:, i : i + 1], cache) for i in range(prefill, 16)]
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=0, atol=1e-5)
    assert cache.length == 16
    with pytest.raises(FlowvoxError, match="cache holds 16 positions"):
        model.decode_step(tokens[:, :1], cache)


def test_save_and_load_round_trip(tmp_path):
    model = tiny_model(seed=3, default_cps=13.5)
    folder = model.save_pretrained(tmp_path / "ar")
    record = json.loads((folder / "config.json").read_text())
    assert record["family"] == "t2s_ar" and record["model"]["default_cps"] == 13.5
    loaded = load_ar(folder)
    assert loaded.config == model.config and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert "encoder.embed_positions" not in model.state_dict()  # sinusoids: rebuilt, not saved
    ids, mask = text_bytes(TEXTS, 256)
    tokens = torch.randint(0, 512, (3, 5))
    cps = torch.full((3,), 12.0)
    torch.testing.assert_close(loaded(ids, mask, tokens, cps), model(ids, mask, tokens, cps))
    with pytest.raises(FlowvoxError, match="already exists|not empty|exists"):
        model.save_pretrained(folder)


def test_a_folder_of_another_family_is_refused(tmp_path):
    SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(tmp_path / "sem")
    with pytest.raises(FlowvoxError, match="is not an autoregressive text-to-semantic model"):
        load_ar(tmp_path / "sem")


def test_the_tokenizer_travels_with_the_model_and_must_fit(tmp_path):
    sem = SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(tmp_path / "sem")
    model = tiny_model()
    model.save_pretrained(tmp_path / "ar", tokenizer=sem)
    pair = load_ar_pair(tmp_path / "ar")
    assert pair.tokenizer.config.codebook_size == pair.model.config.codebook_size == 512
    model.save_pretrained(tmp_path / "bare")
    with pytest.raises(FlowvoxError, match="no tokenizer/ folder inside"):
        load_ar_pair(tmp_path / "bare")
    assert load_ar_pair(tmp_path / "bare", tokenizer=sem).model.config == model.config
    small = SemanticConfig.preset("tiny", ["codebook_size=64"])
    other = SemanticTokenizer(small).save_pretrained(tmp_path / "sem64")
    with pytest.raises(FlowvoxError, match="tokenizer has 64 codes") as err:
        load_ar_pair(tmp_path / "ar", tokenizer=other)
    assert "\n" not in str(err.value)


def test_bad_input_is_one_line():
    model = tiny_model()
    for texts, match in (([], "no text given"), (["ok", "   "], "text 1 is empty")):
        with pytest.raises(FlowvoxError, match=match) as err:
            text_bytes(texts, 256)
        assert "\n" not in str(err.value)
    with pytest.raises(FlowvoxError, match="300 UTF-8 bytes, more than the model's 256"):
        text_bytes(["x" * 300], model.config.max_text_bytes)
    bad = [("heads=3", "must divide dim"), ("max_tokens=1", "at least 2"),
           ("default_cps=0", "must be > 0"), ("cps_max=-1", "must be > 0")]  # fmt: skip
    for override, match in bad:
        with pytest.raises(FlowvoxError, match=match):
            ARConfig.preset("tiny", [override])
    with pytest.raises(FlowvoxError, match="unknown t2s_ar preset 'huge'"):
        ARConfig.preset("huge")
    tokens = torch.zeros(1, 257, dtype=torch.long)
    with pytest.raises(FlowvoxError, match="257 decoder positions exceed the model's 256"):
        model(*text_bytes(["hi"], 256), tokens, torch.tensor([10.0]))
