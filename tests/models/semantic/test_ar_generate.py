"""``generate_tokens_ar``: the cache path equals the recomputing path, results do not depend
on the batch, lengths follow the cps rule, a tiny model overfit on two pairs reproduces
them greedily, and bad input is a one-line error."""
# b: batch, n: decoder positions

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.ar import ARTextToSemantic, text_bytes
from flowvox.models.semantic.ar_config import ARConfig
from flowvox.models.semantic.ar_data import ARCollate, ARItem
from flowvox.models.semantic.ar_generate import choose, code_limit, generate_tokens_ar
from flowvox.models.semantic.config import SemanticConfig
from tests.models.semantic.test_ar import TEXTS, tiny_model


def test_cached_greedy_decoding_equals_recomputing():
    model = tiny_model()
    cached = generate_tokens_ar(model, TEXTS, cps=12.0, length_margin=0.6)
    full = generate_tokens_ar(model, TEXTS, cps=12.0, length_margin=0.6, use_cache=False)
    assert cached.codes == full.codes and cached.ended == full.ended
    assert all(len(c) > 0 for c in cached.codes)
    assert all(0 <= i < 512 for c in cached.codes for i in c)


def test_cached_decoding_picks_the_argmax_of_the_full_pass():
    """Feed the greedy ids back through the full causal pass: at every position the id
    generated over the cache is the argmax of the full pass's logits."""
    model = tiny_model(seed=1)
    rates = [10.0, 16.0]
    out = generate_tokens_ar(model, TEXTS[:2], cps=rates)
    c = model.config
    for text, codes, ended, cps in zip(TEXTS[:2], out.codes, out.ended, rates, strict=True):
        seq = torch.tensor([[c.bos, *codes]])
        with torch.no_grad():
            logits = model(*text_bytes([text], 256), seq, torch.tensor([cps]))[0]  # (n, v)
        logits[:, [c.pad, c.bos]] = -torch.inf
        logits[0, c.eos] = -torch.inf
        want = codes + [c.eos] if ended else codes
        assert logits.argmax(-1).tolist()[: len(want)] == want


def test_choose_samples_from_the_top_k_at_the_temperature():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]]).repeat(400, 1)  # (b, v)
    gens = [torch.Generator().manual_seed(i) for i in range(400)]
    picks = choose(logits, 1.0, 2, gens)
    assert set(picks.tolist()) == {2, 3}
    share = (picks == 3).float().mean().item()
    assert abs(share - math.e / (1 + math.e)) < 0.07  # softmax over the top two: 0.73
    hot = choose(logits, 4.0, None, [torch.Generator().manual_seed(i) for i in range(400)])
    assert set(hot.tolist()) == {0, 1, 2, 3}  # a high temperature flattens the distribution
    cold = choose(logits, 0.01, None, [torch.Generator().manual_seed(i) for i in range(400)])
    assert (cold == 3).all() and (choose(logits, 0.0, None, []) == 3).all()


@pytest.mark.parametrize("temperature,top_k", [(0.0, None), (1.0, 20), (0.7, None)])
def test_a_batch_gives_each_text_what_it_gets_alone(temperature, top_k):
    model = tiny_model(seed=2)
    rates = [9.0, 13.0, 17.0]
    options = dict(temperature=temperature, top_k=top_k, length_margin=0.6)
    batched = generate_tokens_ar(model, TEXTS, cps=rates, seed=7, **options)
    for i, text in enumerate(TEXTS):
        alone = generate_tokens_ar(model, [text], cps=rates[i], seeds=[7 + i], **options)
        assert alone.codes[0] == batched.codes[i] and alone.ended[0] == batched.ended[i]
    in_twos = generate_tokens_ar(model, TEXTS, cps=rates, seed=7, batch_size=2, **options)
    assert in_twos.codes == batched.codes


def test_sampling_follows_the_seed_and_top_k():
    model = tiny_model(seed=4)
    short = dict(length_margin=0.5)
    a = generate_tokens_ar(model, TEXTS, temperature=1.0, seed=1, **short)
    b = generate_tokens_ar(model, TEXTS, temperature=1.0, seed=1, **short)
    other = generate_tokens_ar(model, TEXTS, temperature=1.0, seed=2, **short)
    greedy = generate_tokens_ar(model, TEXTS, **short)
    assert a.codes == b.codes and a.codes != other.codes
    top1 = generate_tokens_ar(model, TEXTS, temperature=1.0, top_k=1, seed=5, **short)
    assert top1.codes == greedy.codes  # top-1 sampling is greedy


def test_length_limit_follows_cps_and_margin():
    model = tiny_model(seed=5)  # untrained: it seldom says EOS, so it runs to its limit
    text = "abcdefghij"  # 10 characters
    assert code_limit(model.config, text, 10.0, 2.0) == 50  # 2 · 10 / 10 · 25
    assert code_limit(model.config, text, 10.0, 100.0) == 255  # max_tokens − 1
    assert code_limit(model.config, "a", 1000.0, 1.0) == 1
    out = generate_tokens_ar(model, [text, text], cps=[10.0, 25.0], length_margin=1.0)
    for codes, ended, limit in zip(out.codes, out.ended, (25, 10), strict=True):
        assert len(codes) <= limit
        assert ended or len(codes) == limit
    assert not all(out.ended)
    default = generate_tokens_ar(model.eval(), [text], length_margin=1.0)
    assert default.cps == [15.0] and len(default.codes[0]) <= math.ceil(10 / 15 * 25)


def test_padded_codes_dequantise_with_the_mask_code():
    model = tiny_model()
    out = generate_tokens_ar(model, TEXTS, cps=20.0, length_margin=0.5)
    padded = out.padded(pad=512)
    assert padded.shape == (3, max(len(c) for c in out.codes))
    for row, codes in enumerate(out.codes):
        assert padded[row, : len(codes)].tolist() == codes
        assert (padded[row, len(codes) :] == 512).all()


def test_tiny_overfit_reproduces_two_pairs_greedily():
    torch.manual_seed(0)
    config = ARConfig.preset("tiny")
    model = ARTextToSemantic(config)
    pairs = [
        ARItem("hello world", torch.randint(0, 512, (12,)).tolist(), 11 / 0.48),
        ARItem("good night moon", torch.randint(0, 512, (16,)).tolist(), 15 / 0.64),
    ]
    batch = ARCollate(config)(pairs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for _ in range(120):
        logits = model(batch.text_ids, batch.text_mask, batch.inputs, batch.cps)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    model.eval()
    out = generate_tokens_ar(model, [p.text for p in pairs], cps=[p.cps for p in pairs])
    assert out.codes == [p.codes for p in pairs] and out.ended == [True, True]


def test_bad_input_is_one_line():
    model = tiny_model()
    wrong = SemanticConfig.preset("tiny", ["codebook_size=64"])
    cases = [
        (dict(texts=[]), "no text given"),
        (dict(texts=["fine", " "]), "text 1 is empty"),
        (dict(tokenizer=wrong), "tokenizer has 64 codes but the T2S model writes ids of a 512"),
        (dict(temperature=-1.0), "temperature=-1.0"),
        (dict(top_k=0), "top_k=0"),
        (dict(cps=0.0), "cps: give one positive value"),
        (dict(cps=[10.0]), r"one per text \(2\)"),
        (dict(seeds=[1]), r"seeds: give one per text \(2\)"),
        (dict(length_margin=0.0), "length_margin=0.0"),
        (dict(batch_size=0), "batch_size=0"),
    ]
    for kwargs, match in cases:
        kwargs = {"texts": ["one", "two"], **kwargs}
        with pytest.raises(FlowvoxError, match=match) as err:
            generate_tokens_ar(model, **kwargs)
        assert "\n" not in str(err.value)
    right = SemanticConfig.preset("tiny")
    assert generate_tokens_ar(model, ["ok"], tokenizer=right, length_margin=0.2).codes
