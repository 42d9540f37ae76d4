"""experiments/semantic_study.py on a tiny WORK folder (untrained tiny models, tone "speech"):
every table is written with the ceiling and ground-truth rows and numbers in range, missing
parts are named, a rerun reuses what was made, and the metrics match hand computations."""
# s: samples

from __future__ import annotations

import json
import math
import re
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
import torch

from experiments.semantic_study import kl_usage, main, text_score
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer
from tests.models.semantic.test_ar import tiny_model
from tests.models.semantic.test_s2a_model import tiny as tiny_s2a
from tests.models.semantic.test_t2s_fm_generate import CHARSET, save_t2s

SR = 24000
TEST = ["the cat sat", "a dog ran", "good night moon", "we like tea"]  # short: fast judging
TRAIN = ["hello world", "a small red boat", "the sun is warm today"]


def tone(path, seconds: float, pitch: float) -> None:
    t = np.arange(int(SR * seconds)) / SR  # (s,)
    wav = 0.3 * np.sin(2 * np.pi * pitch * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    sf.write(path, wav.astype(np.float32), SR)


def build_work(root):
    """A corpus (2 speakers; 4 test sentences, one spoken twice; 3 train utterances), the
    frozen tokenizer, FM (a), FM (b), AR and S2A; FM (c), the vocoder and the prepared
    folders are missing. sentences-unspoken.txt holds one test sentence (a leak)."""
    (root / "corpus/wavs").mkdir(parents=True)
    rows = [(t, f"s{i % 2}", "test", 0.6 + 0.1 * i) for i, t in enumerate(TEST)]
    rows += [(TEST[0], "s1", "test", 0.7)]  # the same sentence by the other speaker
    rows += [(t, f"s{i % 2}", "train", 1.0 + i) for i, t in enumerate(TRAIN)]
    with (root / "corpus/manifest.jsonl").open("w") as fh:
        for i, (text, speaker, split, seconds) in enumerate(rows):
            tone(root / f"corpus/wavs/u{i}.wav", seconds, 200 + 50 * i)
            record = dict(audio=f"wavs/u{i}.wav", text=text, speaker=speaker, split=split,
                          duration=seconds)  # fmt: skip
            fh.write(json.dumps(record) + "\n")
    (root / "sentences-unspoken.txt").write_text("an owl hooted\nwe like tea\n")
    tok = root / "semantic-vq/model"
    tok.parent.mkdir()
    torch.manual_seed(0)
    SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(tok, extra={"stage": "vq"})
    for name in ("t2s-fm-a", "t2s-fm-b", "t2s-ar", "s2a"):
        (root / name).mkdir()
    save_t2s(root / "t2s-fm-a/model", tok)
    save_t2s(root / "t2s-fm-b/model", tok, cfg_drop_prob=0.0, guidance=1.0)
    ar = tiny_model(seed=3, default_cps=30.0, charset=CHARSET + " ")
    ar.save_pretrained(root / "t2s-ar/model", tokenizer=tok)
    tiny_s2a().save_pretrained(root / "s2a/model", tokenizer=tok)
    return root


ARGS = ["--sentences", "4", "--nfe", "1", "2", "--e2e-nfe", "2", "--s2a-nfe", "2",
        "--e2e-sentences", "2", "--speed-sentences", "2", "--bulk", "2",
        "--asr-workers", "0"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("semantic_study")
    work = build_work(root / "work")
    out = root / "page.md"
    main([str(work), "--out", str(out), "--cache", str(root / "cache"), *ARGS])
    return work, out, root / "cache"


def tables(page: str) -> dict[str, list[dict[str, str]]]:
    """Each section's markdown table as rows of {header: cell}."""
    out, title, header = {}, None, None
    for line in page.splitlines():
        if line.startswith("## "):
            title, header = line[3:], None
        elif line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            else:
                out.setdefault(title, []).append(dict(zip(header, cells, strict=True)))
    return out


def section(found: dict, start: str) -> list[dict[str, str]]:
    (title,) = [t for t in found if t.startswith(start)]
    return found[title]


def test_the_page_has_every_table_in_range(run):
    work, out, _ = run
    page = out.read_text()
    found = tables(page)
    assert "`python -m experiments.semantic_study" in page and "threads" in page
    assert f"torch {torch.__version__}" in page
    holds = {r["part"]: r[""] for r in section(found, "What WORK holds")}
    assert holds["FM (c) both"] == holds["vocoder"] == holds["vocos24k mels"] == "**missing**"
    assert holds["FM (a) supervised"] == holds["S2A"] == holds["corpus"] == "present"
    # the sentences: 3 of the 4 distinct test texts; the planted leak is counted
    assert "4 of the 4 distinct sentences of split test" in page
    assert "1 in sentences-unspoken.txt" in page and "0 also occur in split train" in page

    trip = section(found, "1. Round trip")
    systems = [(r["system"], r["NFE"]) for r in trip]
    assert systems[0] == ("ceiling: real audio -> frozen codes", "-")
    assert ("AR (greedy)", "-") in systems
    for label in ("FM (a) supervised", "FM (b) text only"):
        assert (label, "1") in systems and (label, "2") in systems
    (missing,) = [r for r in trip if r["system"] == "FM (c) both"]
    assert missing["NFE"] == "missing: WORK/t2s-fm-c/model" and missing["WER %"] == ""
    cfg = {r["system"]: r["cfg"] for r in trip if r["NFE"] == "1"}
    assert cfg == {"FM (a) supervised": "2.0", "FM (b) text only": "1.0"}  # each model's own
    for row in trip[:-1]:
        assert row["sentences"] == "4"
        assert float(row["WER %"]) >= 0 and float(row["CER %"]) >= 0
        assert 0 <= float(row["exact %"]) <= 100
    assert re.search(r"NFE 1: [\d.]+ − [\d.]+ = [+-][\d.]+, NFE 2:", page)  # table 2

    e2e = {r["system"]: r for r in section(found, "3. End to end")}
    assert set(e2e) == {"ground truth", "real codes -> S2A", "AR (greedy)",
                        "FM (a) supervised, NFE 2", "FM (b) text only, NFE 2"}  # fmt: skip
    for row in e2e.values():
        assert row["sentences"] == "2" and float(row["WER %"]) >= 0
    assert e2e["ground truth"]["duration ratio"] == "-"  # no ratio to itself
    assert float(e2e["real codes -> S2A"]["duration ratio"]) > 0
    assert "Griffin-Lim" in page and "FM (c) both: missing (WORK/t2s-fm-c/model)." in page

    tokens = section(found, "4. Token statistics")
    assert [(r["system"], r["NFE"]) for r in tokens][:5] == [
        ("AR (greedy)", "-"), ("FM (a) supervised", "1"), ("FM (a) supervised", "2"),
        ("FM (b) text only", "1"), ("FM (b) text only", "2"),
    ]  # fmt: skip
    assert tokens[-1]["NFE"] == "missing: WORK/t2s-fm-c/model"
    for row in tokens[:-1]:
        assert float(row["KL nats"]) >= 0 and 1 <= int(row["codes used"]) <= 512
        assert float(row["abs len err (tokens)"]) >= 0 and float(row["abs len err %"]) >= 0
    assert 0 <= float(tokens[0]["ended at EOS %"]) <= 100 and tokens[1]["ended at EOS %"] == "-"
    assert re.search(r"odd and the even sentences' real codes \(the floor at this sample "
                     r"size\): \d+\.\d{3}", page)  # fmt: skip

    speed = section(found, "5. Throughput")
    assert [(r["system"], r["NFE"], r["batch"], r["sentences"]) for r in speed] == [
        ("FM (a) supervised", "8 (cfg 2)", "1", "2"), ("FM (a) supervised", "8 (cfg 2)", "2", "4"),
        ("AR (greedy)", "-", "1", "2"), ("AR (greedy)", "-", "2", "4"),
    ]  # fmt: skip
    for row in speed:
        assert float(row["sentences/s"]) > 0 and float(row["tokens/s"]) > 0


def test_a_rerun_reuses_what_was_made(run, tmp_path):
    work, out, cache = run
    made = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.suffix in (".jsonl", ".wav")}
    judged = {p: p.read_text() for p in cache.rglob("*judged.json")}
    assert len(judged) == 5 and any(p.suffix == ".wav" for p in made)
    again = tmp_path / "again.md"
    main([str(work), "--out", str(again), "--cache", str(cache), *ARGS, "--skip", "speed"])
    assert {p: p.stat().st_mtime_ns for p in made} == made  # no token file or wav remade
    assert {p: p.read_text() for p in judged} == judged  # no audio judged again
    first, second = tables(out.read_text()), tables(again.read_text())
    for name in ("1. Round trip", "3. End to end", "4. Token statistics"):
        assert section(first, name) == section(second, name)
    assert not any(t.startswith("5.") for t in second)


def test_without_a_corpus_the_page_says_so(tmp_path):
    out = tmp_path / "page.md"
    main([str(tmp_path / "empty"), "--out", str(out)])
    page = out.read_text()
    assert "Nothing measured: the corpus (WORK/corpus/manifest.jsonl) is missing." in page
    assert page.count("**missing**") == 12 and "## 1." not in page


def test_text_scores_are_corpus_level_on_normalised_text():
    score = text_score(["Hello, world!", "Dr. Smith"], ["hello word", "doctor smith"])
    assert score.wer == pytest.approx(1 / 4)  # one substitution over four words
    assert score.cer == pytest.approx(1 / (11 + 12))  # "hello world", "doctor smith"
    assert score.exact == pytest.approx(0.5) and score.sentences == 2


def test_kl_of_smoothed_code_usage():
    real, made = Counter({0: 3, 1: 1}), Counter({0: 1, 1: 3})
    assert kl_usage(real, real, 4) == pytest.approx(0.0)
    p = np.array([4, 2, 1, 1]) / 8  # counts + 1 over 4 codes
    q = np.array([2, 4, 1, 1]) / 8
    assert kl_usage(real, made, 4) == pytest.approx(float(np.sum(p * np.log(p / q))))
    assert kl_usage(real, Counter(), 4) > 0 and math.isfinite(kl_usage(real, Counter(), 4))
