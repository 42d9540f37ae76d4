"""`flowvox speak` / `flowvox generate` with a tiny FastPitch model directory, and
`--pitch-shift` (FastPitch only). Each refusal exits 2 with ONE stderr line, no output file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from flowvox.cli.main import main
from tests.infer.fastpitch_helpers import tiny_fastpitch_dir
from tests.infer.helpers import REF_TEXT, speech_like, tiny_model_dir


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cli-fastpitch")
    sf.write(root / "ref.wav", speech_like(1.2, 16000), 16000)
    yield {
        "fastpitch": tiny_fastpitch_dir(root / "fastpitch"),
        "infill": tiny_model_dir(root / "infill"),
        "ref": root / "ref.wav",
    }
    torch.set_num_threads(threads)


def refused(capsys, argv, out, *fragments):
    """Exit 2, one stderr line holding each fragment; ``out`` not written (nor made)."""
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("flowvox: error: "), err
    for fragment in fragments:
        assert fragment in err[0], err[0]
    assert not out.exists()


def test_speak_writes_the_same_audio_whole_and_streamed(tmp_path, assets, capsys):
    model = ["--model", str(assets["fastpitch"])]
    a, b, c = (tmp_path / name for name in ("a.wav", "b.wav", "c.wav"))
    assert main(["speak", "Hello there.", "-o", str(a), *model]) == 0
    assert "RTF" in capsys.readouterr().out
    sampler = ["--nfe", "3", "--cfg", "0", "--solver", "midpoint", "--seed", "4"]  # ignored
    assert main(["speak", "Hello there.", "-o", str(b), *model, *sampler, "--stream"]) == 0
    assert main(["speak", "Hello there.", "-o", str(c), *model, "--pitch-shift", "-5"]) == 0
    wav_a, sr = sf.read(a)
    wav_b, _ = sf.read(b)
    wav_c, _ = sf.read(c)
    assert sr == 24000 and len(wav_a) > 0.3 * sr and np.abs(wav_a).max() > 0
    assert len(wav_b) == len(wav_a) and np.abs(wav_a - wav_b).max() < 2e-3
    assert len(wav_c) == len(wav_a) and np.abs(wav_a - wav_c).max() > 1e-3


def test_speak_refusals_are_one_line(tmp_path, assets, capsys):
    out = tmp_path / "out.wav"
    fastpitch = ["speak", "Hi.", "-o", str(out), "--model", str(assets["fastpitch"])]
    voice = ["--ref-audio", str(assets["ref"]), "--ref-text", REF_TEXT]
    refused(capsys, [*fastpitch, *voice], out, "ref_audio", "single-speaker", "--ref-audio")
    refused(capsys, [*fastpitch, "--duration", "1.5"], out, "duration", "speed")
    refused(capsys, [*fastpitch, "--nfe", "0"], out, "nfe=0")
    refused(capsys, [*fastpitch, "--pitch-shift", "30"], out, "pitch_shift=30.0", "[-24, 24]")
    infill = ["speak", "Hi.", "-o", str(out), "--model", str(assets["infill"]), *voice]
    infill += ["--vocoder", "griffin-lim", "--nfe", "2"]
    refused(capsys, [*infill, "--pitch-shift", "2"], out, "pitch_shift=2.0", "only FastPitch")
    assert list(tmp_path.iterdir()) == []


def test_generate_makes_a_folder_without_a_reference(tmp_path, assets, capsys):
    source = tmp_path / "lines.txt"
    source.write_text("First line.\nA second, longer line of text.\n")
    out = tmp_path / "out"
    model = ["--model", str(assets["fastpitch"]), "--no-progress"]
    assert main(["generate", str(source), str(out), *model, "--pitch-shift", "3"]) == 0
    assert "2 utterances made" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["speaker"] for r in records] == ["default", "default"]
    assert [r["extra"]["pitch_shift"] for r in records] == [3.0, 3.0]
    durations = {r["text"]: r["duration"] for r in records}
    assert durations["A second, longer line of text."] > durations["First line."] > 0
    bad = tmp_path / "bad"
    refused(capsys, ["generate", str(source), str(bad), *model, "--ref-audio", str(assets["ref"])],
            bad, "ref_audio", "single-speaker")  # fmt: skip
