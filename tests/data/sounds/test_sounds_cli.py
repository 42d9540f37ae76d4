"""`flowvox corpus sounds`: help with examples, one-line errors that write nothing, a build."""

import subprocess
import sys

import pytest

from flowvox.cli.main import build_parser, main


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["corpus", "sounds", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: flowvox corpus sounds" in out and "--seconds" in out
    assert "flowvox corpus sounds " in out.split("examples:")[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clips", "0"], "--clips 0"),
        (["--clips", "-3"], "--clips -3"),
        (["--clips", "2", "--seconds", "0"], "--seconds"),
        (["--clips", "2", "--seconds", "-1"], "--seconds"),
        (["--clips", "2", "--workers", "0"], "--workers 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "sounds"
    assert main(["corpus", "sounds", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowvox: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_an_output_path_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    assert main(["corpus", "sounds", str(target), "--clips", "2"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_missing_sox_names_the_package(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "sounds"
    assert main(["corpus", "sounds", str(out), "--clips", "2"]) == 2
    assert "apt-get install sox" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_the_command_builds_a_corpus(tmp_path):
    out = tmp_path / "sounds"
    args = ["corpus", "sounds", str(out), "--clips", "3", "--seconds", "2", "--workers", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "flowvox", *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "3 built, 0 already there, 0 failed" in result.stdout
    assert len(list((out / "wavs").glob("*.wav"))) == 3
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 3
