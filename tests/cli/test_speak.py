"""`flowvox speak` / `flowvox generate`: argument checks that need no model.

Every refusal exits with status 2, prints ONE line on stderr and writes no output file.
"""

from __future__ import annotations

import io

import pytest

from flowvox.cli.main import main


def refused(capsys, argv, *fragments):
    """Run the CLI; assert exit 2 and one stderr line holding every fragment."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("flowvox: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    return err


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["-o", "{tmp}/no/such/dir/out.wav"], ["no such folder", "no/such/dir"]),
        (["-o", "{tmp}/out.mp3"], ["unsupported output format", ".wav"]),
        (["-o", "{tmp}"], ["is a folder"]),
        (["-o", "{tmp}/out.wav", "--nfe", "0"], ["nfe=0"]),
        (["-o", "{tmp}/out.wav", "--cfg", "-1"], ["cfg=-1.0", ">= 0"]),
        (["-o", "{tmp}/out.wav", "--speed", "0"], ["speed=0.0"]),
        (["-o", "{tmp}/out.wav", "--duration", "-2"], ["duration=-2.0"]),
        (["-o", "{tmp}/out.wav", "--ref-text", "hi"], ["--ref-text needs --ref-audio"]),
    ],
    ids=["missing-folder", "mp3", "folder", "nfe0", "cfg-neg", "speed0", "duration-neg",
         "ref-text-alone"],
)  # fmt: skip
def test_speak_refuses_bad_arguments_before_any_work(tmp_path, capsys, extra, fragments):
    argv = ["speak", "Hello.", *[a.format(tmp=tmp_path) for a in extra], "--model", "nowhere"]
    refused(capsys, argv, *fragments)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_speak_refuses_empty_text(tmp_path, capsys, text):
    refused(capsys, ["speak", text, "-o", str(tmp_path / "out.wav")], "TEXT is empty")
    assert not (tmp_path / "out.wav").exists()


def test_speak_reads_text_from_stdin(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    refused(capsys, ["speak", "-", "-o", str(tmp_path / "out.wav")], "TEXT is empty")
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["generate", "{tmp}/missing.txt", "{tmp}/out"], ["missing.txt", "no such file"]),
        (["generate", "{tmp}/lines.txt", "{tmp}/no/out"], ["no such folder"]),
        (["generate", "{tmp}/lines.txt", "{tmp}/lines.txt"], ["not a folder"]),
        (["generate", "{tmp}/lines.txt", "{tmp}/out", "--batch-frames", "0"], ["batch-frames"]),
        (["generate", "{tmp}/lines.txt", "{tmp}/out", "--nfe", "0"], ["nfe=0"]),
        (["generate", "{tmp}/blank.txt", "{tmp}/out"], ["no text to speak"]),
    ],
    ids=["no-source", "no-parent", "out-is-file", "batch-frames", "nfe0", "blank-source"],
)
def test_generate_refuses_bad_arguments_before_any_work(tmp_path, capsys, argv, fragments):
    (tmp_path / "lines.txt").write_text("Hello.\n")
    (tmp_path / "blank.txt").write_text("\n \n")
    refused(capsys, [a.format(tmp=tmp_path) for a in argv], *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.txt", "lines.txt"]
