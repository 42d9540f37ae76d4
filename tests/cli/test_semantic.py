"""`flowvox semantic encode|decode`: audio -> token file -> the transcripts back, and every
bad input (token files, codes, model folders, audio) as exit 2 with one stderr line and
nothing written."""

from __future__ import annotations

import json

import pytest

from flowvox.cli.main import build_parser, main
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.tta.vae import MelVAE
from flowvox.models.tta.vae_config import MelVAEConfig
from tests.models.semantic.helpers import TEXTS, train_tokenizer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny tokenizer trained on two clips (stage asr, then vq), and those clips."""
    root = tmp_path_factory.mktemp("semantic_cli")
    model = train_tokenizer(root, asr_steps=50, vq_steps=20)
    return {"model": model, "audio": [root / "corpus/u0.wav", root / "corpus/u1.wav"],
            "asr": root / "asr/model"}  # fmt: skip


@pytest.fixture(scope="module")
def tokens(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("tokens") / "tokens.jsonl"
    argv = ["semantic", "encode", *map(str, trained["audio"]), "-o", str(out)]
    assert main([*argv, "--model", str(trained["model"])]) == 0
    return out


def fails(argv: list[str], capsys, match: str) -> None:
    """``argv`` exits 2 with one stderr line containing ``match``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowvox: error: ") and err.count("\n") == 1, err
    assert match in err, err


@pytest.mark.parametrize("verb", [["semantic"], ["semantic", "encode"], ["semantic", "decode"]])
def test_help_has_examples(verb, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*verb, "--help"])
    out = capsys.readouterr().out
    assert "usage: flowvox " + " ".join(verb) in out
    assert "examples:" in out and "flowvox semantic encode a.wav" in out


def test_encode_writes_25_hz_codes_per_file(tokens, capsys):
    lines = [json.loads(line) for line in tokens.read_text().splitlines()]
    assert [line["audio"].rsplit("/", 1)[1] for line in lines] == ["u0.wav", "u1.wav"]
    # 0.6 s and 0.8 s: 61 and 81 mel frames -> 31 and 41 at 50 Hz -> 16 and 21 tokens
    assert [len(line["codes"]) for line in lines] == [16, 21]
    assert all(0 <= c < 512 for line in lines for c in line["codes"])
    assert {(line["codebook_size"], line["rate"]) for line in lines} == {(512, 25.0)}
    assert sorted(p.name for p in tokens.parent.iterdir()) == ["tokens.jsonl"]  # no temporaries


def test_decode_gives_the_transcripts_back(trained, tokens, tmp_path, capsys):
    capsys.readouterr()
    assert main(["semantic", "decode", str(tokens), "--model", str(trained["model"])]) == 0
    assert capsys.readouterr().out.splitlines() == list(TEXTS)
    out = tmp_path / "texts.jsonl"
    argv = ["semantic", "decode", str(tokens), "--model", str(trained["model"]), "-o", str(out)]
    assert main(argv) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in records] == list(TEXTS)
    assert records[0]["audio"].endswith("u0.wav")


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "holds no token lines"),
        ("\n  \n", "holds no token lines"),
        ('{"codes": [1, 2]\n', "tokens.jsonl:1: not valid JSON"),
        ("[1, 2]\n", "expected a JSON object"),
        ('{"codes": []}\n', "'codes' must be a non-empty list"),
        ('{"codes": [1, "2"]}\n', "'codes' must hold integers only"),
        ('{"codes": [1, 2]}\n{"codes": [3, 513]}\n',
         "tokens.jsonl:2: codes [513] out of range 0 .. 512"),
        ('{"codes": [-1]}\n', "out of range"),
        ('{"codes": [1, 2], "codebook_size": 1024}\n', "tokens of a 1024-code book"),
        ('{"codes": [512, 512]}\n', "only mask codes"),
    ],
)  # fmt: skip
def test_bad_token_files_are_one_line_errors(trained, tmp_path, capsys, content, match):
    path = tmp_path / "tokens.jsonl"
    path.write_text(content)
    out = tmp_path / "out.jsonl"
    argv = ["semantic", "decode", str(path), "--model", str(trained["model"]), "-o", str(out)]
    fails(argv, capsys, match)
    assert not out.exists()


def test_bad_model_folders_are_one_line_errors(trained, tokens, tmp_path, capsys):
    MelVAE(MelVAEConfig.preset("tiny")).save_pretrained(tmp_path / "vae")
    out = tmp_path / "t.jsonl"
    audio = str(trained["audio"][0])
    fails(["semantic", "encode", audio, "-o", str(out), "--model", str(tmp_path / "vae")],
          capsys, "family 'tta_vae' is not a semantic tokenizer")  # fmt: skip
    fails(["semantic", "decode", str(tokens), "--model", str(tmp_path / "vae")],
          capsys, "family 'tta_vae' is not a semantic tokenizer")  # fmt: skip
    fails(["semantic", "encode", audio, "-o", str(out), "--model", str(trained["asr"])],
          capsys, "a stage-asr model (its quantiser is untrained)")  # fmt: skip
    fails(["semantic", "encode", audio, "-o", str(out), "--model", str(tmp_path / "none")],
          capsys, "not found")  # fmt: skip
    small = SemanticConfig.preset("tiny").replace(codebook_size=64)
    SemanticTokenizer(small).save_pretrained(tmp_path / "other")
    fails(["semantic", "decode", str(tokens), "--model", str(tmp_path / "other")],
          capsys, "tokens of a 512-code book, but the model has 64 codes")  # fmt: skip
    assert not out.exists()


def test_bad_audio_is_a_one_line_error_and_writes_nothing(trained, tmp_path, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav")
    out = tmp_path / "t.jsonl"
    model = ["--model", str(trained["model"])]
    good = str(trained["audio"][0])
    fails(["semantic", "encode", good, str(broken), "-o", str(out), *model], capsys,
          "cannot read audio")  # fmt: skip
    fails(["semantic", "encode", good, str(tmp_path / "gone.wav"), "-o", str(out), *model],
          capsys, "no such audio file")  # fmt: skip
    fails(["semantic", "encode", good, "-o", str(tmp_path / "t.txt"), *model], capsys,
          "name it OUT.jsonl")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.wav"]
