"""`flowvox sound`: a wav from a caption, a resumable bulk folder, and every refusal as exit 2
with one stderr line and nothing written."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
import soundfile as sf

from flowvox.cli.main import build_parser, main
from flowvox.infer import sound as sound_module
from tests.infer.helpers import tiny_model_dir
from tests.infer.test_sound import tiny_sound_folder


@pytest.fixture(scope="module")
def sound_dir(tmp_path_factory):
    return tiny_sound_folder(tmp_path_factory.mktemp("sound") / "model")


@pytest.fixture(scope="module")
def other_dirs(tmp_path_factory):
    """A sound model whose vocoder is for another mel, and a speech model."""
    root = tmp_path_factory.mktemp("others")
    return {
        "mismatch": tiny_sound_folder(root / "mismatch", vocoder="hifigan22k"),
        "speech": tiny_model_dir(root / "speech"),
    }


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sound", "--help"])
    out = capsys.readouterr().out
    assert "usage: flowvox sound" in out and "examples:" in out and "--captions" in out


def test_sound_writes_a_wav_and_one_summary_line(tmp_path, sound_dir, capsys):
    out = tmp_path / "dog.wav"
    argv = ["sound", "a dog barks", "-o", str(out), "--model", str(sound_dir)]
    assert main([*argv, "--seconds", "0.4", "--steps", "2", "--seed", "1"]) == 0
    info = sf.info(out)
    assert (info.samplerate, info.frames) == (16000, 6400)
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and "RTF" in printed and "vocoder" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dog.wav"]  # no temporary left


def test_caption_dash_reads_stdin(tmp_path, sound_dir, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("rain on a tin roof\n"))
    out = tmp_path / "rain.wav"
    assert main(["sound", "-", "-o", str(out), "--model", str(sound_dir), "--seconds", "0.2",
                 "--steps", "1"]) == 0  # fmt: skip
    assert sf.info(out).frames == 3200


def test_bulk_writes_a_folder_and_a_rerun_keeps_finished_files(tmp_path, sound_dir, capsys):
    captions = tmp_path / "captions.txt"
    captions.write_text("a dog barks\nrain on a roof\n\na bell rings\n", encoding="utf-8")
    out = tmp_path / "sounds"
    argv = ["sound", "--captions", str(captions), str(out), "--model", str(sound_dir),
            "--seconds", "0.2", "--steps", "2", "--seed", "5", "--batch-size", "2"]  # fmt: skip
    assert main(argv) == 0
    names = ["00001.wav", "00002.wav", "00004.wav"]
    assert sorted(p.name for p in out.iterdir()) == [*names, "manifest.jsonl"]
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(x["audio"], x["text"], x["seed"]) for x in lines] == [
        ("00001.wav", "a dog barks", 6), ("00002.wav", "rain on a roof", 7),
        ("00004.wav", "a bell rings", 9),
    ]  # fmt: skip
    first = sf.read(out / "00002.wav")[0]
    capsys.readouterr()

    stamps = {n: os.stat(out / n).st_mtime_ns for n in names}
    (out / "00002.wav").unlink()
    assert main(argv) == 0
    assert "kept 2" in capsys.readouterr().out
    assert all(os.stat(out / n).st_mtime_ns == stamps[n] for n in ("00001.wav", "00004.wav"))
    np.testing.assert_allclose(sf.read(out / "00002.wav")[0], first, atol=2 / 32768)
    again = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert again == lines


def refused(capsys, argv, *fragments):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("flowvox: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["", "-o", "{tmp}/o.wav"], ["CAPTION is empty"]),
        (["  \t ", "-o", "{tmp}/o.wav"], ["CAPTION is empty"]),
        (["?! ...", "-o", "{tmp}/o.wav"], ["nothing readable"]),
        (["a dog", "-o", "{tmp}/o.wav", "--seconds", "0"], ["seconds=0.0"]),
        (["a dog", "-o", "{tmp}/o.wav", "--seconds", "-3"], ["seconds=-3.0"]),
        (["a dog", "-o", "{tmp}/o.wav", "--seconds", "9"], ["at most 4 s"]),
        (["a dog", "-o", "{tmp}/o.wav", "--steps", "0"], ["steps=0"]),
        (["a dog", "-o", "{tmp}/o.wav", "--cfg", "-1"], ["cfg=-1.0"]),
        (["a dog", "-o", "{tmp}/no/such/o.wav"], ["no such folder"]),
        (["a dog", "-o", "{tmp}/o.mp3"], ["unsupported output format"]),
        (["a dog"], ["give CAPTION and -o"]),
        (["-o", "{tmp}/o.wav"], ["give CAPTION and -o"]),
        (["a dog", "--captions", "{tmp}/c.txt", "{tmp}/out"], ["drop CAPTION and -o"]),
        (["--captions", "{tmp}/none.txt", "{tmp}/out"], ["no such file"]),
        (["--captions", "{tmp}/empty.txt", "{tmp}/out"], ["no captions"]),
        (["--captions", "{tmp}/bad.txt", "{tmp}/out"], ["bad.txt:2", "nothing readable"]),
        (["--captions", "{tmp}/c.txt", "{tmp}/c.txt"], ["is not a folder"]),
        (["--captions", "{tmp}/c.txt", "{tmp}/out", "--batch-size", "0"], ["--batch-size 0"]),
        (["--captions", "{tmp}/c.txt", "{tmp}/out", "--seconds", "9"], ["at most 4 s"]),
    ],
    ids=["empty", "blank", "punctuation", "s0", "s-neg", "too-long", "steps0", "cfg-neg",
         "no-folder", "mp3", "no-output", "no-caption", "both", "no-file", "empty-file",
         "bad-line", "out-is-file", "batch0", "bulk-too-long"],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path, sound_dir, capsys, argv, fragments
):
    (tmp_path / "c.txt").write_text("a dog barks\n")
    (tmp_path / "empty.txt").write_text("\n  \n")
    (tmp_path / "bad.txt").write_text("a dog barks\n~~~\n")
    before = sorted(tmp_path.iterdir())
    argv = [a.format(tmp=tmp_path) for a in argv]
    refused(capsys, ["sound", *argv, "--model", str(sound_dir)], *fragments)
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("which", "fragments"),
    [("mismatch", ["mel mismatch", "lafma16k", "hifigan22k"]),
     ("speech", ["infill_tts", "not a sound model"])],
)  # fmt: skip
def test_wrong_model_folders_are_refused(tmp_path, other_dirs, capsys, which, fragments):
    argv = ["sound", "a dog", "-o", str(tmp_path / "o.wav"), "--model", str(other_dirs[which])]
    refused(capsys, argv, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_no_model_and_none_bundled_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sound_module, "BUNDLED_SOUND_DIR", tmp_path / "absent")
    refused(capsys, ["sound", "a dog", "-o", str(tmp_path / "o.wav")], "no sound model is bundled")
    assert list(tmp_path.iterdir()) == []
