"""Generation with the autoregressive T2S: ``generate_tokens_ar(model, texts, ...)``.

Each text is decoded from BOS until EOS, greedily (``temperature`` 0) or by sampling
softmax(logits / temperature) over the ``top_k`` most likely ids. A text may hold at most

    limit = min(⌈margin · chars / cps · token_rate⌉, max_tokens − 1)   codes

(chars: its characters; cps: the caller's, else the model's ``default_cps``, the training
median); a text that reaches it without EOS is cut there (``ended`` False). BOS and PAD
are never generated, and EOS not before the first code.

Results do not depend on the batch (up to float rounding): texts are batched with padding
(the encoder and the cross-attention mask the padding bytes; all rows share decoder
positions), and text i samples from its own ``torch.Generator().manual_seed(seeds[i])`` on
the CPU (default seed + i), one uniform per step, mapped through the row's CDF on the
model's device.
"""
# b: batch, l: text bytes, n: decoder positions, v: decoder vocab

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.ar import ARTextToSemantic, load_ar, text_bytes
from flowvox.models.semantic.ar_config import ARConfig
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.files import load_tokenizer
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.t2s_folder import tokenizer_folder


@dataclass
class ARGeneration:
    """What ``generate_tokens_ar`` gives, one entry per text, in the order given."""

    codes: list[list[int]]  # semantic codes 0 .. K − 1, without BOS / EOS
    ended: list[bool]  # True: stopped at EOS; False: cut at its length limit
    cps: list[float]  # the condition each text was generated with
    steps: int  # decoder steps run, summed over batches

    def padded(self, pad: int, device: torch.device | str = "cpu") -> Tensor:
        """The codes as (b, n) int64, padded with ``pad`` (the tokenizer's mask code K, so
        ``SemanticTokenizer.dequantize`` reads it as it stands)."""
        n = max(len(c) for c in self.codes)
        out = torch.full((len(self.codes), n), pad, dtype=torch.long)
        for row, codes in enumerate(self.codes):
            out[row, : len(codes)] = torch.tensor(codes, dtype=torch.long)
        return out.to(device)


def check_tokenizer(model: ARConfig, tokenizer: SemanticConfig) -> None:
    """A one-line error unless ``tokenizer`` reads the ids ``model`` writes (codebook size
    and token rate)."""
    if model.codebook_size != tokenizer.codebook_size:
        raise FlowvoxError(
            f"the semantic tokenizer has {tokenizer.codebook_size} codes but the T2S model "
            f"writes ids of a {model.codebook_size}-code book; use the tokenizer it was "
            "trained with (or set model.codebook_size to match)"
        )
    if not math.isclose(model.token_rate, tokenizer.token_rate):
        raise FlowvoxError(
            f"the semantic tokenizer runs at {tokenizer.token_rate:g} tokens/s but the T2S "
            f"model at {model.token_rate:g}; use the tokenizer it was trained with"
        )


@dataclass
class ARPair:
    """A T2S model and the frozen tokenizer that reads its codes."""

    model: ARTextToSemantic
    tokenizer: SemanticTokenizer


def load_ar_pair(
    model: str | os.PathLike, tokenizer: str | os.PathLike | None = None, device: str = "cpu"
) -> ARPair:
    """The T2S model of folder ``model`` and its tokenizer (``tokenizer``, else the folder's
    ``tokenizer/``), checked to belong together."""
    t2s = load_ar(model, device)
    folder = tokenizer_folder(model, tokenizer)
    tok = load_tokenizer(folder, device)
    check_tokenizer(t2s.config, tok.config)
    return ARPair(t2s, tok)


def code_limit(config: ARConfig, text: str, cps: float, margin: float) -> int:
    """The most codes ``text`` may get: ⌈margin · chars / cps · rate⌉, 1 .. max_tokens − 1."""
    want = math.ceil(margin * len(text.strip()) / cps * config.token_rate)
    return max(1, min(want, config.max_tokens - 1))


def choose(
    logits: Tensor, temperature: float, top_k: int | None, generators: Sequence[torch.Generator]
) -> Tensor:
    """Next ids (b,) from logits (b, v): argmax at temperature 0; otherwise inverse-CDF
    sampling of softmax(logits / T) restricted to the top k, one uniform per row."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (b, 1)
        logits = logits.masked_fill(logits < kth, -torch.inf)
    cdf = logits.double().softmax(-1).cumsum(-1)  # (b, v)
    u = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in generators])
    u = u.to(logits.device)[:, None] * cdf[:, -1:]  # (b, 1)
    ids = torch.searchsorted(cdf, u, right=True)[:, 0]
    return ids.clamp(max=logits.shape[-1] - 1)


@torch.no_grad()
def generate_batch(
    model: ARTextToSemantic, texts: list[str], cps: list[float], limits: list[int],
    temperature: float, top_k: int | None, generators: Sequence[torch.Generator],
    use_cache: bool = True,
) -> ARGeneration:  # fmt: skip
    """One padded batch (see the module docstring); ``limits``: the most codes per text.
    ``use_cache`` False recomputes the whole sequence each step (the reference)."""
    c = model.config
    device = next(model.parameters()).device
    ids, mask = (x.to(device) for x in text_bytes(texts, c.max_text_bytes))  # (b, l)
    b, longest = len(texts), max(limits)
    cps_t = torch.tensor(cps, device=device)
    limit_t = torch.tensor(limits, device=device)
    seq = torch.full((b, longest + 2), c.pad, dtype=torch.long, device=device)  # (b, n)
    seq[:, 0] = c.bos
    done = torch.zeros(b, dtype=torch.bool, device=device)
    ended = torch.zeros(b, dtype=torch.bool, device=device)
    cache = model.start_cache(ids, mask, cps_t, longest + 1) if use_cache else None
    steps = 0
    for step in range(longest + 1):  # step s reads position s, writes position s + 1
        if cache is not None:
            logits = model.decode_step(seq[:, step : step + 1], cache)[:, -1]  # (b, v)
        else:
            logits = model(ids, mask, seq[:, : step + 1], cps_t)[:, -1]
        logits = logits.float()
        steps += 1
        logits[:, [c.pad, c.bos]] = -torch.inf
        if step == 0:
            logits[:, c.eos] = -torch.inf
        nxt = choose(logits, temperature, top_k, generators)  # (b,)
        stop = (nxt == c.eos) & ~done
        cut = (step >= limit_t) & ~done & ~stop  # already `limit` codes: no more
        ended |= stop
        seq[:, step + 1] = nxt.masked_fill(done | cut, c.pad)
        done |= stop | cut
        if bool(done.all()):
            break
    codes = [[i for i in row if i < c.codebook_size] for row in seq[:, 1:].tolist()]
    return ARGeneration(codes, ended.tolist(), list(cps), steps)


def generate_tokens_ar(
    model: ARTextToSemantic,
    texts: Sequence[str],
    cps: float | Sequence[float] | None = None,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    length_margin: float = 2.0,
    batch_size: int = 32,
    tokenizer: SemanticConfig | None = None,
    use_cache: bool = True,
) -> ARGeneration:
    """Semantic codes for each of ``texts`` (see the module docstring).

    cps: one value for all, one per text, or None (the model's ``default_cps``);
    temperature 0: greedy (WhisperSpeech samples at 0.7); top_k: None for all ids;
    seeds: one per text (default seed + i); length_margin: the factor over the cps length;
    batch_size: texts per forward pass (results do not depend on it); tokenizer: the
    config of the tokenizer that will read the codes, checked to fit; use_cache False:
    recompute the whole sequence each step (slow; the reference the cache is tested on).
    """
    texts = list(texts)
    if not texts:
        raise FlowvoxError("no text given; pass one or more lines of text")
    if tokenizer is not None:
        check_tokenizer(model.config, tokenizer)
    if temperature < 0 or not math.isfinite(temperature):
        raise FlowvoxError(f"temperature={temperature}: use 0 (greedy) or a positive value")
    if top_k is not None and top_k < 1:
        raise FlowvoxError(f"top_k={top_k}: use a positive integer, or None for all ids")
    if not length_margin > 0:
        raise FlowvoxError(f"length_margin={length_margin} must be > 0 (e.g. 2.0)")
    if batch_size < 1:
        raise FlowvoxError(f"batch_size={batch_size} must be at least 1")
    if cps is None:
        cps = model.config.inference_cps
    rates = [float(cps)] * len(texts) if isinstance(cps, (int, float)) else list(cps)
    if len(rates) != len(texts) or not all(r > 0 and math.isfinite(r) for r in rates):
        raise FlowvoxError(
            f"cps: give one positive value, or one per text ({len(texts)}); got {cps!r}"
        )
    seeds = [seed + i for i in range(len(texts))] if seeds is None else list(seeds)
    if len(seeds) != len(texts):
        raise FlowvoxError(f"seeds: give one per text ({len(texts)}), got {len(seeds)}")
    for i, text in enumerate(texts):
        if not text.strip():
            raise FlowvoxError(f"text {i} is empty; give every line some text")
        unknown = model.config.unknown_characters(text)
        if unknown and unknown == {ch for ch in text if not ch.isspace()}:
            shown = "".join(sorted(unknown))[:20]
            raise FlowvoxError(
                f"text {i} holds only characters the model never saw in training ({shown!r});"
                " write it in the training data's script"
            )
    limits = [
        code_limit(model.config, t, r, length_margin) for t, r in zip(texts, rates, strict=True)
    ]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i].encode("utf-8")))
    codes: list[list[int]] = [[] for _ in texts]
    ended = [False] * len(texts)
    steps = 0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        gens = [torch.Generator().manual_seed(seeds[i]) for i in rows]
        out = generate_batch(
            model, [texts[i] for i in rows], [rates[i] for i in rows],
            [limits[i] for i in rows], temperature, top_k, gens, use_cache,
        )  # fmt: skip
        steps += out.steps
        for row, i in enumerate(rows):
            codes[i], ended[i] = out.codes[row], out.ended[row]
    return ARGeneration(codes, ended, rates, steps)
