"""`flowvox semantic generate` with an autoregressive T2S folder (known by its family stamp):
OUT/tokens.jsonl with the codes `generate_tokens_ar` makes, the same whatever the batch,
seeded per line when sampled, resumable, a progress bar, and every bad input (options of the
other family included) as exit 2 with one stderr line and nothing written."""

from __future__ import annotations

import json
import string

import pytest
import torch

from flowvox.cli.main import main
from flowvox.models.semantic.ar_generate import code_limit, generate_tokens_ar
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer
from tests.models.semantic.test_ar import tiny_model
from tests.models.semantic.test_t2s_fm_generate import save_t2s

LINES = ["the cat sat", "", "a dog ran far away", "hello", "good night moon"]
CHARSET = string.ascii_letters + " .,!?'"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny (untrained) tokenizer, an autoregressive T2S folder and a T2S-FM folder."""
    root = tmp_path_factory.mktemp("ar_generate_file")
    torch.manual_seed(0)
    SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(
        root / "tok", extra={"stage": "vq"}
    )
    model = tiny_model(seed=3, default_cps=12.0, charset=CHARSET)
    model.save_pretrained(root / "ar", tokenizer=root / "tok")
    save_t2s(root / "fm", root / "tok")
    return root


@pytest.fixture
def lines(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(LINES) + "\n")
    return path


def generate(lines, out, model, *extra) -> int:
    return main(["semantic", "generate", str(lines), str(out), "--model", str(model),
                 "--no-progress", *extra])  # fmt: skip


def read_tokens(out) -> list[dict]:
    return [json.loads(line) for line in (out / "tokens.jsonl").read_text().splitlines()]


def test_writes_the_codes_of_generate_tokens_ar(models, lines, tmp_path, capsys):
    out = tmp_path / "out"
    assert generate(lines, out, models / "ar") == 0
    records = read_tokens(out)
    texts = [t for t in LINES if t]
    assert [r["id"] for r in records] == [1, 3, 4, 5]
    assert [r["text"] for r in records] == texts
    model = tiny_model(seed=3, default_cps=12.0, charset=CHARSET)
    want = generate_tokens_ar(model, texts, cps=12.0)
    assert [r["codes"] for r in records] == want.codes
    assert [r["ended"] for r in records] == want.ended
    for r, text in zip(records, texts, strict=True):
        assert 1 <= len(r["codes"]) <= code_limit(model.config, text, 12.0, 2.0)
        assert all(0 <= c < 512 for c in r["codes"])
    assert {(r["codebook_size"], r["rate"], r["temperature"], r["top_k"], r["cps"])
            for r in records} == {(512, 25.0, 0.0, None, 12.0)}  # fmt: skip
    assert "nfe" not in records[0] and [r["seed"] for r in records] == [1, 3, 4, 5]
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["tokens.jsonl"]
    decoded = tmp_path / "texts.jsonl"  # a token file that `semantic decode` reads
    argv = ["semantic", "decode", str(out / "tokens.jsonl"), "--model",
            str(models / "ar/tokenizer"), "-o", str(decoded)]  # fmt: skip
    assert main(argv) == 0 and len(decoded.read_text().splitlines()) == 4


def test_codes_do_not_depend_on_the_batch_and_sampling_follows_the_seed(models, lines, tmp_path):
    def codes(name, *extra):
        assert generate(lines, tmp_path / name, models / "ar", *extra) == 0
        return [r["codes"] for r in read_tokens(tmp_path / name)]

    assert codes("greedy1", "--batch-size", "1") == codes("greedy3", "--batch-size", "3")
    hot = ("--temperature", "1.5", "--seed", "4")
    sampled = codes("hot1", *hot, "--batch-size", "1")
    assert sampled == codes("hot4", *hot, "--batch-size", "4")
    assert sampled != codes("greedy_again")
    assert sampled != codes("hot_other", "--temperature", "1.5", "--seed", "5")
    slow = codes("slow", "--cps", "6", "--temperature", "1", "--top-k", "1")
    assert slow == codes("slow_greedy", "--cps", "6")  # top-1 sampling is greedy
    assert read_tokens(tmp_path / "slow")[0]["cps"] == 6.0


def test_a_rerun_makes_only_the_missing_lines_and_shows_progress(models, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("the cat sat\na dog ran\n")
    out = tmp_path / "out"
    assert generate(lines, out, models / "ar") == 0
    first = (out / "tokens.jsonl").read_text()
    lines.write_text("the cat sat\na dog ran\nhello there\n")
    capsys.readouterr()
    argv = ["semantic", "generate", str(lines), str(out), "--model", str(models / "ar")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "1 lines" in captured.out and "kept 2 from before" in captured.out
    assert "semantic generate" in captured.err and "3/3" in captured.err
    assert (out / "tokens.jsonl").read_text().startswith(first)
    assert [r["id"] for r in read_tokens(out)] == [1, 2, 3]


def fails(argv: list[str], capsys, match: str) -> None:
    """``argv`` exits 2 with one stderr line containing ``match``."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowvox: error: ") and err.count("\n") == 1, err
    assert match in err, err


@pytest.mark.parametrize(
    "model, content, extra, match",
    [
        ("ar", "the cat\n", ["--nfe", "4"], "--nfe: "),
        ("ar", "the cat\n", ["--words-per-second", "2"], "is an autoregressive T2S model"),
        ("ar", "the cat\n", ["--cfg", "2"], "serves flow-matching T2S models only: drop it"),
        ("fm", "the cat\n", ["--temperature", "0.7"], "is a flow-matching T2S model"),
        ("fm", "the cat\n", ["--cps", "12"], "--cps: "),
        ("ar", "the cat\n", ["--temperature", "-1"], "--temperature -1.0: use 0 (greedy)"),
        ("ar", "the cat\n", ["--top-k", "0"], "--top-k 0: use a positive number"),
        ("ar", "the cat\n", ["--cps", "0"], "--cps 0.0: must be > 0"),
        ("ar", "the cat\n日本語\n", [], "lines.txt:2: only characters the model never saw"),
        ("ar", "a" * 257 + "\n", [], "lines.txt:1: 257 UTF-8 bytes"),
        ("ar", "\n\n", [], "holds no text"),
    ],
)  # fmt: skip
def test_bad_input_is_a_one_line_error_and_writes_nothing(models, tmp_path, capsys, model,
                                                          content, extra, match):  # fmt: skip
    lines = tmp_path / "lines.txt"
    lines.write_text(content)
    out = tmp_path / "out"
    fails(["semantic", "generate", str(lines), str(out), "--model", str(models / model),
           *extra], capsys, match)  # fmt: skip
    assert not out.exists()


def test_a_tokenizer_that_does_not_fit_is_a_one_line_error(models, lines, tmp_path, capsys):
    other = SemanticConfig.preset("tiny").replace(codebook_size=64)
    SemanticTokenizer(other).save_pretrained(tmp_path / "tok64", extra={"stage": "vq"})
    out = tmp_path / "out"
    fails(["semantic", "generate", str(lines), str(out), "--model", str(models / "ar"),
           "--tokenizer", str(tmp_path / "tok64")], capsys, "has 64 codes")  # fmt: skip
    assert not out.exists()
