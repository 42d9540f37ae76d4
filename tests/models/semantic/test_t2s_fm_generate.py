"""`flowvox semantic generate`: lines -> OUT/tokens.jsonl (N by the rule, codes the
tokenizer's, readable by `semantic decode`), the same codes whatever the batch, resumable
(lines already written are kept; a torn last line is redone), a progress bar, and every bad
input as exit 2 with one stderr line and nothing written."""
# n: semantic frames, d: embedding channels

from __future__ import annotations

import json
import string

import pytest
import torch

from flowvox.cli.main import build_parser, main
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.t2s_fm_config import T2SFlowConfig
from flowvox.models.semantic.t2s_fm_model import T2SFlow

LINES = ["the cat sat", "", "a dog ran far away", "hello", "good night moon"]
CHARSET = string.ascii_letters + string.digits + ".,!?'"


def save_t2s(folder, tokenizer, **changes) -> None:
    tok = SemanticTokenizer.from_pretrained(tokenizer).config
    cfg = T2SFlowConfig.preset("tiny").replace(
        emb_dim=tok.dim, codebook_size=tok.codebook_size, token_rate=tok.token_rate,
        words_per_second=2.5, offset_seconds=0.2, charset=CHARSET, **changes,
    )  # fmt: skip
    torch.manual_seed(0)
    model = T2SFlow(cfg)
    with torch.no_grad():  # a fresh network predicts 0; make the text matter
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny (untrained) tokenizer folder and T2S folders made for it."""
    root = tmp_path_factory.mktemp("t2s_fm_generate")
    torch.manual_seed(0)
    SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(
        root / "tok", extra={"stage": "vq"}
    )
    other = SemanticConfig.preset("tiny").replace(codebook_size=64)
    SemanticTokenizer(other).save_pretrained(root / "tok64", extra={"stage": "vq"})
    save_t2s(root / "t2s", root / "tok")
    save_t2s(root / "t2s_text_only", root / "tok", cfg_drop_prob=0.0, guidance=1.0)
    T2SFlow(T2SFlowConfig.preset("tiny").replace(emb_dim=32)).save_pretrained(root / "bare")
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


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["semantic", "generate", "--help"])
    out = capsys.readouterr().out
    assert "usage: flowvox semantic generate" in out and "examples:" in out
    assert "flowvox semantic generate lines.txt out/ --model" in out


def test_writes_one_token_line_per_text_line(models, lines, tmp_path, capsys):
    out = tmp_path / "out"
    assert generate(lines, out, models / "t2s", "--nfe", "2", "--cfg", "2") == 0
    records = read_tokens(out)
    assert [r["id"] for r in records] == [1, 3, 4, 5]  # line numbers; the blank line skipped
    assert [r["text"] for r in records] == [t for t in LINES if t]
    # N = round(25 · (0.2 + words / 2.5)): 3 words 35, 5 words 55, 1 word 15, 3 words 35
    assert [len(r["codes"]) for r in records] == [35, 55, 15, 35]
    assert all(0 <= c < 512 for r in records for c in r["codes"])
    assert {(r["codebook_size"], r["rate"], r["nfe"], r["cfg"]) for r in records} == {
        (512, 25.0, 2, 2.0)
    }
    assert [r["seed"] for r in records] == [1, 3, 4, 5]
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["tokens.jsonl"]
    # a token file: `semantic decode` reads it with the tokenizer inside the model folder
    decoded = tmp_path / "texts.jsonl"
    argv = ["semantic", "decode", str(out / "tokens.jsonl"), "--model",
            str(models / "t2s/tokenizer"), "-o", str(decoded)]  # fmt: skip
    assert main(argv) == 0 and len(decoded.read_text().splitlines()) == 4


def test_codes_do_not_depend_on_the_batch_and_follow_the_seed(models, lines, tmp_path):
    one, three = tmp_path / "one", tmp_path / "three"
    assert generate(lines, one, models / "t2s", "--batch-size", "1", "--seed", "9") == 0
    assert generate(lines, three, models / "t2s", "--batch-size", "3", "--seed", "9") == 0
    assert [r["codes"] for r in read_tokens(one)] == [r["codes"] for r in read_tokens(three)]
    other = tmp_path / "other"
    assert generate(lines, other, models / "t2s", "--seed", "10") == 0
    assert [r["codes"] for r in read_tokens(other)] != [r["codes"] for r in read_tokens(one)]


def test_a_rerun_keeps_the_lines_written_and_redoes_a_torn_one(models, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("the cat sat\na dog ran\n")
    out = tmp_path / "out"
    assert generate(lines, out, models / "t2s", "--batch-size", "1") == 0
    first = (out / "tokens.jsonl").read_text()
    lines.write_text("the cat sat\na dog ran\nhello there\ngood night\n")
    capsys.readouterr()
    assert generate(lines, out, models / "t2s", "--batch-size", "1") == 0
    assert "2 lines" in capsys.readouterr().out
    text = (out / "tokens.jsonl").read_text()
    assert text.startswith(first) and [r["id"] for r in read_tokens(out)] == [1, 2, 3, 4]
    whole = read_tokens(out)
    (out / "tokens.jsonl").write_text(text + '{"id": 5, "text": "x", "co')  # a killed run
    lines.write_text("the cat sat\na dog ran\nhello there\ngood night\nthe end\n")
    assert generate(lines, out, models / "t2s") == 0
    again = read_tokens(out)
    assert again[:4] == whole and again[4]["id"] == 5 and len(again) == 5
    assert generate(lines, out, models / "t2s") == 0  # nothing left to do
    assert read_tokens(out) == again
    lines.write_text("the cat sat\n")  # a shorter LINES: the other lines stay
    assert generate(lines, out, models / "t2s") == 0
    assert read_tokens(out) == again


def test_the_progress_bar_counts_lines(models, lines, tmp_path, capsys):
    argv = ["semantic", "generate", str(lines), str(tmp_path / "out"), "--model",
            str(models / "t2s")]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "semantic generate" in err and "4/4" in err


def fails(argv: list[str], capsys, match: str) -> None:
    """``argv`` exits 2 with one stderr line containing ``match``."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowvox: error: ") and err.count("\n") == 1, err
    assert match in err, err


@pytest.mark.parametrize(
    "content, extra, match",
    [
        ("", [], "holds no text"),
        ("\n   \n", [], "holds no text"),
        ("the cat\n日本語 です\n", [], "lines.txt:2: only characters the model never saw"),
        ("the cat\n", ["--frames", "0"], "--frames 0: N must be at least 1"),
        ("the cat\n", ["--frames", "100000"], "lines.txt:1: N=100000 semantic frames"),
        ("the cat\n", ["--words-per-second", "0.0001"], "must lie in 1 .. 750"),
        ("the cat\n", ["--words-per-second", "0"], "--words-per-second 0.0: must be > 0"),
        ("the cat\n", ["--nfe", "0"], "--nfe 0: give at least 1 step"),
        ("the cat\n", ["--batch-size", "0"], "--batch-size 0: must be 1 or more"),
        ("the cat\n", ["--cfg", "-1"], "--cfg -1.0: give a guidance weight"),
        ("a" * 401 + "\n", [], "lines.txt:1: 401 UTF-8 bytes"),
    ],
)  # fmt: skip
def test_bad_lines_and_settings_are_one_line_errors(models, tmp_path, capsys, content, extra,
                                                    match):  # fmt: skip
    lines = tmp_path / "lines.txt"
    lines.write_text(content)
    out = tmp_path / "out"
    fails(["semantic", "generate", str(lines), str(out), "--model", str(models / "t2s"), *extra],
          capsys, match)  # fmt: skip
    assert not out.exists()


def test_models_that_do_not_fit_are_one_line_errors(models, lines, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["semantic", "generate", str(lines), str(out), "--model"]
    fails([*base, str(models / "t2s"), "--tokenizer", str(models / "tok64")], capsys,
          "trained for a tokenizer of codebook size 512, but the tokenizer has 64")  # fmt: skip
    fails([*base, str(models / "bare")], capsys, "no tokenizer/ folder inside")
    fails([*base, str(models / "bare"), "--tokenizer", str(models / "tok")], capsys,
          "tokenizer of embedding dimension 32, but the tokenizer has 64")  # fmt: skip
    fails([*base, str(models / "tok")], capsys, "family 'semantic' is not a flow-matching")
    fails([*base, str(models / "t2s_text_only"), "--cfg", "2"], capsys,
          "trained without text dropout")  # fmt: skip
    assert not out.exists()
    (out / "tokens.jsonl").parent.mkdir()
    (out / "tokens.jsonl").write_text('{"id": 1, "text": "other text", "codes": [1]}\n')
    fails([*base, str(models / "t2s")], capsys, "LINES changed since: use a new OUT_DIR")
    assert read_tokens(out) == [{"id": 1, "text": "other text", "codes": [1]}]
