"""`flowvox speak` and `flowvox generate` end to end with a tiny random model on the CPU.

Bad input (issue 4): each refusal exits 2 with ONE stderr line and leaves no output file.
"""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from flowvox.cli.main import main
from flowvox.vocoders import save_vocoder
from flowvox.vocoders.vocos.model import Vocos, VocosConfig
from tests.infer.helpers import speech_like, tiny_model_dir

FAST = ["--nfe", "2", "--cfg", "0", "--seed", "0"]


def tiny_vocos_dir(folder, mel="vocos24k"):
    torch.manual_seed(0)
    config = VocosConfig(mel=mel, dim=32, hidden_dim=48, num_layers=1, padding="same")
    return save_vocoder(folder, Vocos(config).eval())


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A tiny model dir, a tiny Vocos dir, a 2 s reference and bad references."""
    root = tmp_path_factory.mktemp("cli")
    refs = root / "refs"
    refs.mkdir()
    sf.write(refs / "ref.wav", speech_like(2.0, 16000), 16000)
    sf.write(refs / "short.wav", speech_like(0.3), 24000)
    sf.write(refs / "silent.wav", np.zeros(48000, np.float32), 24000)
    (refs / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(200)))
    (refs / "ref.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    return {
        "model": tiny_model_dir(root / "model"),
        "vocoder": tiny_vocos_dir(root / "vocos"),
        "vocoder22k": tiny_vocos_dir(root / "vocos22k", "hifigan22k"),
        "refs": refs,
    }


def voice(assets, ref="ref.wav"):
    return [
        "--model", str(assets["model"]), "--vocoder", str(assets["vocoder"]),
        "--ref-audio", str(assets["refs"] / ref), "--ref-text", "a short reference clip.",
    ]  # fmt: skip


def test_speak_writes_a_wav(tmp_path, assets, capsys):
    out = tmp_path / "hello.wav"
    assert main(["speak", "Hello there.", "-o", str(out), *voice(assets), *FAST]) == 0
    wav, sr = sf.read(out)
    assert sr == 24000 and 0.1 < len(wav) / sr < 5
    assert "RTF" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["hello.wav"]  # no temporary file left


def test_speak_duration_stdin_and_stream(tmp_path, assets, monkeypatch):
    args = [*voice(assets), *FAST, "--duration", "0.8"]
    monkeypatch.setattr("sys.stdin", io.StringIO("Read from standard input.\n"))
    assert main(["speak", "-", "-o", str(tmp_path / "a.wav"), *args]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("Read from standard input.\n"))
    assert main(["speak", "-", "-o", str(tmp_path / "b.flac"), *args, "--stream"]) == 0
    a, sr = sf.read(tmp_path / "a.wav")
    b, _ = sf.read(tmp_path / "b.flac")
    assert len(a) / sr == pytest.approx(0.8, abs=0.05)  # generated part only
    assert len(a) == len(b) and np.abs(a - b).max() < 2e-3  # streamed = whole, same seed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.flac"]


def refused(capsys, argv, out, *fragments):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("flowvox: error: "), err
    for fragment in fragments:
        assert fragment in err[0]
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("ref", "fragments"),
    [
        ("short.wav", ["short.wav", "at least 0.5 s"]),
        ("silent.wav", ["silent.wav", "silent"]),
        ("corrupt.wav", ["corrupt.wav", "cannot read audio"]),
        ("ref.mp4", ["ref.mp4", "cannot read audio"]),
        ("missing.wav", ["missing.wav", "no such audio file"]),
    ],
    ids=["short", "silent", "corrupt", "unsupported", "missing"],
)
def test_speak_refuses_bad_references(tmp_path, assets, capsys, ref, fragments):
    out = tmp_path / "out.wav"
    refused(capsys, ["speak", "Hi.", "-o", str(out), *voice(assets, ref), *FAST], out, *fragments)


def test_speak_refuses_bad_text_and_models(tmp_path, assets, capsys, no_bundled_model):
    out = tmp_path / "out.wav"
    speak = ["speak", "Hi.", "-o", str(out)]
    unknown = ["speak", "日本語の文", "-o", str(out), *voice(assets), *FAST]
    refused(capsys, unknown, out, "no character this model knows")
    refused(capsys, [*speak, *FAST], out, "no bundled default voice", "--model DIR")
    refused(capsys, [*speak, "--model", str(tmp_path / "nope"), *FAST], out, "nope")
    broken = tmp_path.parent / f"{tmp_path.name}-broken"  # a model dir with corrupt weights
    shutil.copytree(assets["model"], broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    refused(capsys, [*speak, "--model", str(broken), *FAST], out, "model.safetensors")
    mismatch = [*voice(assets)[:2], "--vocoder", str(assets["vocoder22k"])]
    refused(capsys, [*speak, *mismatch, *FAST], out, "hifigan22k", "sample_rate")


def test_library_warnings_print_one_line_each(tmp_path, assets, capsys):
    out = tmp_path / "out.wav"
    model_only = voice(assets)[:2] + voice(assets)[4:]  # no --vocoder: Griffin-Lim, warned
    argv = ["speak", "Hello 日本 there.", "-o", str(out), *model_only, *FAST, "--duration", "0.3"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert any("Griffin-Lim" in line for line in err)
    assert any("'日', '本'" in line for line in err)
    assert all(line.startswith("flowvox: warning: ") for line in err), err
    assert out.is_file()


def test_generate_makes_a_folder_and_resumes(tmp_path, assets, capsys):
    source = tmp_path / "lines.txt"
    source.write_text("First line.\n\nA second, longer line of text.\nThird.\n")
    out = tmp_path / "out"
    argv = ["generate", str(source), str(out), *voice(assets), *FAST, "--no-progress"]
    assert main(argv) == 0
    assert "3 utterances made" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["extra"]["id"] for r in records) == [
        "line-000001",
        "line-000003",
        "line-000004",
    ]
    for record in records:
        info = sf.info(out / record["audio"])
        assert info.samplerate == 24000
        assert info.duration == pytest.approx(record["duration"], abs=1e-3)
    assert main(argv) == 0
    assert "0 utterances made" in capsys.readouterr().out
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 3


def test_generate_lists_refused_lines_and_exits_1(tmp_path, assets, capsys):
    source = tmp_path / "lines.txt"
    source.write_text("A fine line.\n日本語\nAnother fine line.\n")
    out = tmp_path / "out"
    argv = ["generate", str(source), str(out), *voice(assets), *FAST, "--no-progress"]
    assert main(argv) == 1
    summary = capsys.readouterr().out
    assert "2 utterances made" in summary and "lines.txt:2" in summary and "1 failed" in summary
    assert sorted(p.name for p in (out / "wavs").iterdir()) == [
        "line-000001.wav",
        "line-000003.wav",
    ]


def test_generate_threads_option(tmp_path, assets, capsys):
    source = tmp_path / "lines.txt"
    source.write_text("One line.\n")
    before = torch.get_num_threads()
    try:
        argv = ["generate", str(source), str(tmp_path / "out"), *voice(assets), *FAST]
        assert main([*argv, "--no-progress", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
        bad = tmp_path / "bad"
        assert main(["generate", str(source), str(bad), *voice(assets), "--threads", "0"]) == 2
        assert "--threads 0" in capsys.readouterr().err
        assert not bad.exists()
    finally:
        torch.set_num_threads(before)


def test_speak_precision_option(tmp_path, assets, capsys):
    out = tmp_path / "bf16.wav"
    assert main(["speak", "Hello there.", "-o", str(out), *voice(assets), *FAST,
                 "--precision", "bf16"]) == 0  # fmt: skip
    assert sf.info(out).samplerate == 24000
    bad = tmp_path / "bad.wav"
    with pytest.raises(SystemExit):  # argparse refuses a precision it does not know
        main(["speak", "Hi.", "-o", str(bad), *voice(assets), "--precision", "fp8"])
    assert not bad.exists()


def test_speak_epss_without_a_table_falls_back_with_a_one_line_notice(tmp_path, assets, capsys):
    out = tmp_path / "out.wav"
    fast = ["--nfe", "3", "--cfg", "0", "--seed", "0", "--epss"]
    assert main(["speak", "Hello there.", "-o", str(out), *voice(assets), *fast]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "flowvox: warning: epss: no EPSS grid for nfe=3 (F5-TTS has them for nfe 5, 6, 7, 10, "
        "12, 16); sampling on the uniform grid with sway -1.0, as f5-tts does"
    ]
    assert out.is_file()
