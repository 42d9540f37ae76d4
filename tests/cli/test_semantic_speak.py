"""`flowvox semantic speak`: text -> T2S (flow matching or autoregressive) -> codes -> S2A
(with or without a voice prompt) -> vocoder -> an audio file of the expected length, the
same for the same seed; every bad input as exit 2 with one stderr line and nothing written.
All models are tiny and untrained, made here."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from flowvox.cli.main import build_parser, main
from flowvox.models.semantic.ar_generate import generate_tokens_ar
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.vocoders.io import save_vocoder
from flowvox.vocoders.vocos.model import Vocos, VocosConfig
from tests.models.semantic.test_ar import tiny_model
from tests.models.semantic.test_ar_generate_file import CHARSET
from tests.models.semantic.test_s2a_model import tiny
from tests.models.semantic.test_t2s_fm_generate import save_t2s

HOP, SR = 256, 24000


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tokenizers, T2S folders of both families, S2A folders and vocoders, and a prompt."""
    root = tmp_path_factory.mktemp("semantic_speak")
    for seed, name in ((0, "tok"), (1, "tok_other")):
        torch.manual_seed(seed)
        SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(
            root / name, extra={"stage": "vq"}
        )
    save_t2s(root / "fm", root / "tok")
    tiny_model(seed=3, default_cps=12.0, charset=CHARSET).save_pretrained(
        root / "ar", tokenizer=root / "tok"
    )
    tiny(seed=1).save_pretrained(root / "s2a", tokenizer=root / "tok")
    tiny(seed=1).save_pretrained(root / "s2a_other", tokenizer=root / "tok_other")
    torch.manual_seed(0)
    save_vocoder(root / "vocos", Vocos(VocosConfig(dim=32, hidden_dim=64, num_layers=1)))
    w16 = VocosConfig(mel="whisper16k", dim=32, hidden_dim=64, num_layers=1, n_fft=400)
    save_vocoder(root / "vocos16k", Vocos(w16))
    t = np.arange(8000) / 16000  # 0.5 s at 16 kHz
    sf.write(root / "ref.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return root


def speak(models, out, *extra, t2s="fm", s2a="s2a") -> int:
    folders = ["--t2s", str(models / t2s), "--s2a", str(models / s2a)]
    return main(["semantic", "speak", "the cat sat", "-o", str(out), *folders,
                 "--s2a-nfe", "3", *extra])  # fmt: skip


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["semantic", "speak", "--help"])
    out = capsys.readouterr().out
    assert "usage: flowvox semantic speak" in out and "examples:" in out
    assert "--t2s" in out and "--s2a" in out and "--s2a-nfe" in out


def test_flow_t2s_with_a_voice_prompt_writes_the_expected_length(models, tmp_path, capsys):
    out = tmp_path / "a.wav"
    vocoder = ["--vocoder", str(models / "vocos")]
    assert speak(models, out, "--frames", "20", "--ref", str(models / "ref.wav"), *vocoder) == 0
    wav, sr = sf.read(out)
    # 20 tokens -> round(20 · 3.75) = 75 mel frames -> Vocos (centred): 74 hops
    assert sr == SR and len(wav) == 74 * HOP
    assert np.abs(wav).max() > 0 and "wrote" in capsys.readouterr().out
    again = tmp_path / "b.wav"
    assert speak(models, again, "--frames", "20", "--ref", str(models / "ref.wav"), *vocoder) == 0
    assert np.array_equal(sf.read(again)[0], wav)  # the same seed: the same audio
    other = tmp_path / "c.wav"
    assert speak(models, other, "--frames", "20", "--ref", str(models / "ref.wav"), *vocoder,
                 "--seed", "1") == 0  # fmt: skip
    assert not np.array_equal(sf.read(other)[0], wav)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav", "c.wav"]


def test_autoregressive_t2s_without_a_prompt_and_griffin_lim(models, tmp_path):
    out = tmp_path / "ar.wav"
    assert speak(models, out, t2s="ar") == 0
    codes = generate_tokens_ar(tiny_model(seed=3, default_cps=12.0, charset=CHARSET),
                               ["the cat sat"]).codes[0]  # fmt: skip
    frames = round(len(codes) * 3.75)
    wav, sr = sf.read(out)
    assert sr == SR and len(wav) == (frames - 1) * HOP  # Griffin-Lim of a centred STFT
    flac = tmp_path / "ar.flac"
    assert speak(models, flac, "--temperature", "0.8", "--seed", "2", t2s="ar") == 0
    assert sf.info(flac).samplerate == SR and sf.info(flac).frames > 0


def fails(argv: list[str], capsys, match: str) -> None:
    """``argv`` exits 2 with one stderr line containing ``match``."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowvox: error: ") and err.count("\n") == 1, err
    assert match in err, err


@pytest.mark.parametrize(
    "text, out, extra, match",
    [
        ("  ", "o.wav", [], "TEXT is empty"),
        ("hi", "o.mp3", [], "unsupported output format"),
        ("hi", "gone/o.wav", [], "no such folder for the output"),
        ("hi", "o.wav", ["--ref", "{root}/none.wav"], "none.wav: no such audio file"),
        ("hi", "o.wav", ["--ref", "{tmp}/broken.wav"], "cannot read audio"),
        ("hi", "o.wav", ["--s2a", "{root}/fm"], "family 't2s_fm' is not a semantic-to-acoustic"),
        ("hi", "o.wav", ["--t2s", "{root}/s2a"], "family 's2a' is not a flow-matching"),
        ("hi", "o.wav", ["--t2s", "{root}/none"], "not found"),
        ("hi", "o.wav", ["--s2a", "{root}/s2a_other"], "the S2A model's ({root}/s2a_other"),
        ("hi", "o.wav", ["--s2a", "{root}/tok"], "family 'semantic' is not a semantic-to-"),
        ("hi", "o.wav", ["--vocoder", "{root}/vocos16k"], "mel mismatch: the S2A model uses"),
        ("hi", "o.wav", ["--temperature", "0.5"], "is a flow-matching T2S model"),
        ("hi", "o.wav", ["--t2s", "{root}/ar", "--nfe", "2"], "is an autoregressive T2S"),
        ("hi", "o.wav", ["--s2a-nfe", "0"], "--s2a-nfe 0: give at least 1 step"),
        ("日本語", "o.wav", [], "TEXT: only characters the model never saw"),
        ("hi", "o.wav", ["--frames", "751"], "TEXT: N=751 semantic frames"),
        ("hi", "o.wav", ["--frames", "750", "--nfe", "1", "--ref", "{root}/ref.wav"],
         "2859 mel frames (prompt + speech) exceed this S2A model's 2816"),
    ],
)  # fmt: skip
def test_bad_input_is_a_one_line_error_and_writes_nothing(models, tmp_path, capsys, text, out,
                                                          extra, match):  # fmt: skip
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wav")
    fill = {"root": str(models), "tmp": str(tmp_path)}
    extra = [e.format(**fill) for e in extra]
    argv = ["semantic", "speak", text, "-o", str(tmp_path / out), "--t2s", str(models / "fm"),
            "--s2a", str(models / "s2a"), "--s2a-nfe", "2"]  # fmt: skip
    for flag in ("--t2s", "--s2a"):  # a later flag overrides the default folder
        if flag in extra:
            i = argv.index(flag)
            argv[i + 1] = extra[extra.index(flag) + 1]
            j = extra.index(flag)
            extra = extra[:j] + extra[j + 2 :]
    fails([*argv, *extra], capsys, match.format(**fill))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.wav"]
