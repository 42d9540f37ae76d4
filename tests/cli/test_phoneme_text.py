"""`flowvox speak` / `generate` with a tiny English phoneme model (espeak-ng) and text in
other scripts: warned of (one line naming the letters), or refused (exit 2, one line, no
file) when nothing in it is English."""

from __future__ import annotations

import shutil

import pytest
import soundfile as sf
import torch

from flowvox.cli.main import main
from flowvox.vocoders import save_vocoder
from flowvox.vocoders.vocos.model import Vocos, VocosConfig
from tests.infer.helpers import REF_TEXT, speech_like, tiny_model_dir

FAST = ["--nfe", "2", "--cfg", "0", "--seed", "0"]


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    """--model (phoneme:en-us), --vocoder (tiny Vocos), --ref-audio, --ref-text."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng missing")
    root = tmp_path_factory.mktemp("phoneme")
    model = tiny_model_dir(root / "model", phonemes="en-us")
    torch.manual_seed(0)
    vocos = Vocos(VocosConfig(dim=32, hidden_dim=48, num_layers=1, padding="same")).eval()
    save_vocoder(root / "vocos", vocos)
    sf.write(root / "ref.wav", speech_like(2.0, 16000), 16000)
    return [
        "--model", str(model), "--vocoder", str(root / "vocos"),
        "--ref-audio", str(root / "ref.wav"), "--ref-text", REF_TEXT, *FAST,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "shown"),
    [("你好。", "'你', '好'"), ("ᚠᚢᚦ ᚨᚱ!", "'ᚠ', 'ᚢ', 'ᚦ', 'ᚨ', 'ᚱ'")],
    ids=["chinese", "runes"],
)
def test_speak_refuses_text_an_english_phoneme_model_cannot_read(
    tmp_path, capsys, voice, text, shown
):
    out = tmp_path / "out.wav"
    assert main(["speak", text, "-o", str(out), *voice]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("flowvox: error: text holds nothing this en-us phoneme model can read")
    assert shown in err
    assert list(tmp_path.iterdir()) == []


def test_speak_warns_of_letters_outside_the_models_script(tmp_path, capsys, voice):
    out = tmp_path / "out.wav"
    assert main(["speak", "Hello ᚠᚢ 你 there.", "-o", str(out), *voice]) == 0
    err = capsys.readouterr().err.splitlines()
    assert all(line.startswith("flowvox: warning: ") for line in err), err
    named = [line for line in err if "spelled out by espeak-ng" in line]
    assert len(named) == 1 and named[0].endswith("not read: 'ᚠ', 'ᚢ', '你'"), err
    assert out.is_file()


def test_generate_lists_the_unreadable_line_and_makes_the_rest(tmp_path, capsys, voice):
    source = tmp_path / "lines.txt"
    source.write_text("A fine line.\n你好\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["generate", str(source), str(out), *voice, "--no-progress"]) == 1
    summary = capsys.readouterr().out
    assert "1 utterances made" in summary and "lines.txt:2" in summary and "1 failed" in summary
    assert [p.name for p in (out / "wavs").iterdir()] == ["line-000001.wav"]
