"""T2S-FM as a model: shapes and padding, the words-per-second rule and its fit, guidance
u = u_u + w (u_c − u_u), per-row seeds (a row's sample does not depend on its batch), any
solver and NFE, and model folders (family stamp, tokenizer inside, other families refused)."""
# b: batch, n: semantic frames, d: embedding channels, l: text bytes

from __future__ import annotations

import json

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.t2s_fm_config import TEXT_NULL, T2SFlowConfig, fit_length_rule
from flowvox.models.semantic.t2s_fm_model import T2SFlow, drop_text, load_t2s, text_bytes
from flowvox.nn.masks import lengths_to_mask

D = 48


def config(**changes) -> T2SFlowConfig:
    base = dict(emb_dim=D, codebook_size=64, words_per_second=2.0, offset_seconds=0.2)
    return T2SFlowConfig.preset("tiny").replace(**{**base, **changes})


def randomized(**changes) -> T2SFlow:
    """A tiny T2S whose zero-initialised layers are made non-zero (a fresh one predicts 0)."""
    torch.manual_seed(0)
    model = T2SFlow(config(**changes)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
        model.set_embedding_stats(torch.randn(D), torch.rand(D) + 0.5)
    return model


def velocity(model: T2SFlow, x, t, texts, mask):
    ids, lengths = text_bytes(texts, 400)
    return model(x, t, ids, lengths, mask)


def test_velocity_has_the_state_shape_and_is_zero_at_padding():
    model = randomized()
    mask = lengths_to_mask(torch.tensor([7, 4]), 7)  # (b, n)
    x = torch.randn(2, 7, D)
    with torch.no_grad():
        v = velocity(model, x, torch.tensor([0.3, 0.9]), ["hello world", "hi"], mask)
    assert v.shape == (2, 7, D)
    assert torch.all(v[1, 4:] == 0) and v[1, :4].abs().sum() > 0


def test_a_fresh_network_predicts_zero_velocity():
    model = T2SFlow(config()).eval()
    mask = torch.ones(1, 5, dtype=torch.bool)
    with torch.no_grad():
        v = velocity(model, torch.randn(1, 5, D), torch.tensor([0.5]), ["hey"], mask)
    assert torch.equal(v, torch.zeros(1, 5, D))


def test_n_follows_the_words_per_second_rule():
    cfg = config(words_per_second=2.5, offset_seconds=0.4, token_rate=25.0)
    # 25 · (0.4 + 4 / 2.5) = 25 · 2.0 = 50;  one word: 25 · (0.4 + 0.4) = 20
    assert cfg.frames_for_text("the cat sat down") == 50
    assert cfg.frames_for_text("  hi  ") == 20
    # an override of the rate: 25 · (0.4 + 4 / 4) = 35
    assert cfg.frames_for_text("the cat sat down", words_per_second=4.0) == 35
    with pytest.raises(FlowvoxError, match="must be > 0"):
        cfg.frames_for_text("a b", words_per_second=0.0)
    with pytest.raises(FlowvoxError, match="has no words_per_second"):
        config(words_per_second=None).frames_for_text("a b")


def test_the_length_rule_fit_recovers_rate_and_offset():
    words = [2, 5, 9, 14, 20]
    seconds = [0.3 + w / 2.5 for w in words]
    wps, offset = fit_length_rule(words, seconds)
    assert wps == pytest.approx(2.5) and offset == pytest.approx(0.3)
    # equal word counts (no slope to fit) or a negative intercept: through the origin
    assert fit_length_rule([4, 4], [1.0, 3.0]) == (pytest.approx(2.0), 0.0)
    wps, offset = fit_length_rule([1, 10], [0.1, 6.0])  # would give offset < 0
    assert offset == 0.0 and wps == pytest.approx(11 / 6.1)


def test_sample_shapes_lengths_and_nfe_for_each_solver():
    model = randomized()
    texts = ["one two three four", "five six"]
    for method, calls in (("euler", 4), ("midpoint", 8), ("rk4", 16)):
        out = model.sample(texts, nfe=4, cfg=2.0, method=method)
        assert out.nfe == calls
        assert out.lengths.tolist() == [55, 30]  # 25 · (0.2 + 4 / 2), 25 · (0.2 + 2 / 2)
        assert out.emb.shape == (2, 55, D)
        assert torch.all(out.emb[1, 30:] == 0) and out.mask.sum().item() == 85
    out = model.sample(texts, frames=[3, 9], nfe=1)
    assert out.lengths.tolist() == [3, 9] and out.emb.shape == (2, 9, D)


def test_guidance_is_u_u_plus_w_times_u_c_minus_u_u():
    model = randomized()
    texts, w = ["hello there", "a cat"], 2.5
    ids, lengths = text_bytes(texts, 400)
    mask = lengths_to_mask(torch.tensor([6, 4]), 6)
    x, t = torch.randn(2, 6, D), torch.tensor([0.2, 0.7])
    null = torch.ones(2, dtype=torch.bool)
    with torch.no_grad():
        u_c = model(x, t, ids, lengths, mask)
        u_u = model(x, t, *drop_text(ids, lengths, null), mask)
        guided = model.guided_velocity_fn(ids, lengths, mask, w)(x, t)
        off = model.guided_velocity_fn(ids, lengths, mask, 1.0)(x, t)
    assert (u_c - u_u).abs().max() > 1e-3  # the text matters
    want = u_u + w * (u_c - u_u)
    torch.testing.assert_close(guided, want, atol=1e-5 * want.abs().max().item(), rtol=0)
    torch.testing.assert_close(off, u_c, atol=1e-6, rtol=0)


def test_the_null_text_is_one_token():
    ids, lengths = text_bytes(["ab", "xyz"], 400)
    dropped, new = drop_text(ids, lengths, torch.tensor([True, False]))
    assert dropped[0].tolist() == [TEXT_NULL, 0, 0] and new.tolist() == [1, 3]
    assert dropped[1].tolist() == list(b"xyz")


def test_a_rows_sample_does_not_depend_on_its_batch():
    model = randomized()
    alone = model.sample(["good night moon"], nfe=3, cfg=2.0, seeds=[11])
    both = model.sample(["a much longer sentence than the other", "good night moon"],
                        nfe=3, cfg=2.0, seeds=[5, 11])  # fmt: skip
    n = alone.lengths.item()
    scale = alone.emb.abs().max().item()  # float32 noise of other shapes: ≈ 1e-5 · scale
    torch.testing.assert_close(both.emb[1, :n], alone.emb[0], atol=1e-4 * scale, rtol=0)
    again = model.sample(["good night moon"], nfe=3, cfg=2.0, seeds=[12])
    assert not torch.allclose(again.emb, alone.emb)  # another seed, other noise


def test_sample_refuses_bad_requests():
    model = randomized()
    with pytest.raises(FlowvoxError, match="empty text"):
        model.sample(["  "])
    with pytest.raises(FlowvoxError, match="must lie in 1 .. 750"):
        model.sample(["hi"], frames=[0])
    with pytest.raises(FlowvoxError, match="must lie in 1 .. 750"):
        model.sample(["hi"], frames=[751])
    with pytest.raises(FlowvoxError, match="must lie in 1 .. 750"):
        model.sample(["hi"], words_per_second=0.001)  # 25 · 1000 s: absurd
    with pytest.raises(FlowvoxError, match="reads at most 400"):
        model.sample(["x" * 401])
    with pytest.raises(FlowvoxError, match="guidance weight >= 0"):
        model.sample(["hi"], cfg=-1.0)
    no_drop = randomized(cfg_drop_prob=0.0)
    with pytest.raises(FlowvoxError, match="trained without text dropout"):
        no_drop.sample(["hi"], cfg=2.0)
    assert no_drop.sample(["hi"], cfg=1.0).nfe == 8


def test_folder_round_trip_with_the_family_stamp_and_the_tokenizer(tmp_path):
    tok = SemanticTokenizer(SemanticConfig.preset("tiny").replace(codebook_size=64))
    tok.save_pretrained(tmp_path / "tok", extra={"stage": "vq"})
    model = randomized(emb_dim=D, charset="abc")
    model.save_pretrained(tmp_path / "t2s", tokenizer=tmp_path / "tok")
    record = json.loads((tmp_path / "t2s/config.json").read_text())
    assert record["family"] == "t2s_fm" and record["format_version"] == 1
    assert record["model"]["charset"] == "abc" and record["model"]["emb_dim"] == D
    assert (tmp_path / "t2s/tokenizer/model.safetensors").is_file()
    loaded = load_t2s(tmp_path / "t2s")
    assert loaded.config == model.config and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    torch.testing.assert_close(loaded.sample(["abc"], seeds=[1]).emb,
                               model.sample(["abc"], seeds=[1]).emb)  # fmt: skip
    with pytest.raises(FlowvoxError, match="family 'semantic' is not a flow-matching text-to"):
        load_t2s(tmp_path / "tok")
    with pytest.raises(FlowvoxError, match="exists and is not empty"):
        model.save_pretrained(tmp_path / "t2s")


def test_config_checks():
    with pytest.raises(FlowvoxError, match="sigma_min"):
        config(sigma_min=1.0)
    with pytest.raises(FlowvoxError, match="words_per_second"):
        config(words_per_second=-1.0)
    with pytest.raises(FlowvoxError, match="unknown t2s_fm preset"):
        T2SFlowConfig.preset("huge")
    assert config(charset="ab").unknown_characters("a b c!") == {"c", "!"}
    assert config().unknown_characters("anything") == set()
