"""The `flowvox` command: help on every verb, one-line errors, no tracebacks."""

import subprocess
import sys

import pytest

from flowvox.cli.main import build_parser, main

VERBS = [
    ["corpus"], ["corpus", "build"], ["corpus", "voices"], ["prepare"],
    ["speak"], ["generate"], ["train"], ["export"], ["vocode"],
]  # fmt: skip


def run_flowvox(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flowvox", *args], capture_output=True, text=True, timeout=120
    )


def test_top_level_help_lists_every_verb():
    result = run_flowvox("--help")
    assert result.returncode == 0
    for verb in ("corpus", "prepare", "speak", "generate", "train", "export"):
        assert verb in result.stdout


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_help_with_text(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*verb, "--help"])
    assert exit_info.value.code == 0
    assert "usage: flowvox " + " ".join(verb) in capsys.readouterr().out


def test_user_mistake_is_one_line_without_traceback(tmp_path):
    result = run_flowvox("prepare", str(tmp_path / "no-such-dir"), str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.startswith("flowvox: error: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_main_returns_2_on_flowvox_error(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "missing.jsonl"), str(tmp_path / "out")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["speak", "generate", "train"])
def test_main_verbs_show_examples(verb, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([verb, "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and f"flowvox {verb} " in out.split("examples:")[1]
