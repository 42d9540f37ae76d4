"""flowvox pack, named voices, the bundled-model lookup and `flowvox voices` / `--voice`."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from safetensors import safe_open

import flowvox.infer.model_dir as model_dir_module
from flowvox.cli.main import build_parser, main
from flowvox.cli.synthesis import synthesis_overrides
from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.infer.files import model_options
from flowvox.infer.model_dir import (
    bundled_model_dir,
    default_reference,
    named_voices,
    sampling_defaults,
)
from flowvox.infer.pack import pack_model, voices_from_manifest
from flowvox.vocoders import save_vocoder

from .helpers import SR, cheap_vocoder, speech_like, tiny_model_dir


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    clips = {}
    for i, name in enumerate(("anna", "bert")):
        clips[name] = root / f"{name}.wav"
        sf.write(clips[name], speech_like(1.5, 16000, seed=i), 16000)
    return {
        "model": tiny_model_dir(root / "model"),
        "vocoder": save_vocoder(root / "vocoder", cheap_vocoder()),
        "clips": clips,
        "root": root,
    }


@pytest.fixture(scope="module")
def packed(parts):
    voices = {
        "anna": (parts["clips"]["anna"], "anna speaks."),
        "bert": (parts["clips"]["bert"], None),
    }
    return pack_model(parts["model"], parts["root"] / "packed", parts["vocoder"], voices, "bert")


def test_pack_halves_weights_and_writes_voices(packed, parts):
    out = packed.out_dir
    with safe_open(out / "model.safetensors", "pt") as f:
        dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}
    assert dtypes == {"torch.float16"}
    assert (out / "vocoder" / "model.safetensors").is_file()
    voices, default = named_voices(out)
    assert sorted(voices) == ["anna", "bert"] and default == "bert"
    assert voices["anna"][1] == "anna speaks." and voices["bert"][1] is None
    assert sf.info(voices["anna"][0]).samplerate == SR  # resampled to the model's rate
    assert default_reference(out) == voices["bert"]
    assert packed.total_bytes == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert "default: bert" in packed.summary()
    assert not any(p.name.startswith(".") for p in parts["root"].iterdir())  # no temp left
    assert {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()} == {0o644}


def test_packed_model_speaks_like_the_original_and_by_name(packed, parts):
    original = Synthesizer.from_pretrained(parts["model"], cheap_vocoder())
    small = Synthesizer.from_pretrained(packed.out_dir)
    anna_wav, anna_text = small.voice_prompt("anna")
    a = original.speak("Hello there.", anna_wav, anna_text, nfe=2, seed=0).wav
    b = small.speak("Hello there.", anna_wav, anna_text, nfe=2, seed=0).wav
    assert anna_wav.parent.name == "voices" and a.shape == b.shape
    assert np.max(np.abs(a - b)) < 0.05 * np.max(np.abs(a))  # fp16 weights, same model
    # no prompt given: the default voice (bert) speaks
    default = small.speak("Hi.", nfe=2, seed=0, cfg=0).wav
    bert = small.speak("Hi.", *small.voice_prompt("bert"), nfe=2, seed=0, cfg=0).wav
    np.testing.assert_array_equal(default, bert)
    with pytest.raises(FlowvoxError, match="unknown voice 'carl'.*anna, bert"):
        small.voice_prompt("carl")


def test_pack_refuses_bad_targets_and_writes_nothing(parts, packed):
    with pytest.raises(FlowvoxError, match="not empty"):
        pack_model(parts["model"], packed.out_dir)
    with pytest.raises(FlowvoxError, match="not among"):
        pack_model(
            parts["model"],
            parts["root"] / "x",
            None,
            {"anna": (parts["clips"]["anna"], None)},
            "zed",
        )
    assert not (parts["root"] / "x").exists()
    with pytest.raises(FlowvoxError, match="not a model folder"):
        pack_model(parts["root"], parts["root"] / "y")


def test_voices_from_manifest_picks_nearest_five_seconds(tmp_path):
    rows = [("a", 2.0), ("a", 4.0), ("a", 5.5), ("b", 9.0), ("c", 7.9)]
    lines = [
        json.dumps({"audio": f"{s}{i}.wav", "text": f"t{i}", "speaker": s, "duration": d})
        for i, (s, d) in enumerate(rows)
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    voices = voices_from_manifest(tmp_path / "m.jsonl")
    assert sorted(voices) == ["a", "c"]  # b has nothing in 3-8 s
    assert voices["a"] == (tmp_path / "a2.wav", "t2") and voices["c"][1] == "t4"


def test_bundled_model_lookup(tmp_path, monkeypatch, packed):
    monkeypatch.delenv("FLOWVOX_MODEL", raising=False)
    monkeypatch.setattr(model_dir_module, "BUNDLED_DIR", tmp_path / "none")
    assert bundled_model_dir() is None
    with pytest.raises(FlowvoxError, match="no bundled default voice"):
        Synthesizer.from_pretrained()
    monkeypatch.setattr(model_dir_module, "BUNDLED_DIR", packed.out_dir)
    assert bundled_model_dir() == packed.out_dir
    assert sorted(Synthesizer.from_pretrained().voices) == ["anna", "bert"]
    monkeypatch.setenv("FLOWVOX_MODEL", str(tmp_path / "missing"))
    with pytest.raises(FlowvoxError, match="FLOWVOX_MODEL"):
        bundled_model_dir()


def test_cli_speak_with_bundled_model_and_voice(tmp_path, monkeypatch, packed, parts, capsys):
    monkeypatch.delenv("FLOWVOX_MODEL", raising=False)
    monkeypatch.setattr(model_dir_module, "BUNDLED_DIR", packed.out_dir)
    out = tmp_path / "hi.wav"
    assert main(["speak", "Hello there.", "-o", str(out), "--nfe", "2"]) == 0  # no flags at all
    assert sf.info(out).samplerate == SR
    assert (
        main(["speak", "Hi.", "-o", str(tmp_path / "a.wav"), "--voice", "anna", "--nfe", "2"]) == 0
    )
    capsys.readouterr()
    bad = tmp_path / "bad.wav"
    argv = [
        "speak",
        "Hi.",
        "-o",
        str(bad),
        "--voice",
        "anna",
        "--ref-audio",
        str(parts["clips"]["anna"]),
    ]
    assert main(argv) == 2 and not bad.exists()
    assert "--voice" in capsys.readouterr().err
    assert main(["voices"]) == 0
    listing = capsys.readouterr().out
    assert "* bert" in listing and "anna speaks." in listing


def test_cli_pack(tmp_path, parts, capsys):
    out = tmp_path / "p"
    spec = f"me={parts['clips']['anna']}:What I said."
    assert main(["pack", str(parts["model"]), str(out), "--voice", spec, "--no-half"]) == 0
    assert "voices: me (default: me)" in capsys.readouterr().out
    assert named_voices(out)[0]["me"][1] == "What I said."
    assert main(["pack", str(parts["model"]), str(tmp_path / "q"), "--voice", "me"]) == 2
    assert "NAME=WAV" in capsys.readouterr().err and not (tmp_path / "q").exists()


def test_sampling_defaults_fill_the_flags_not_given(tmp_path, parts, capsys):
    out = tmp_path / "s"
    assert main(["pack", str(parts["model"]), str(out), "--nfe", "3", "--cfg", "0.5"]) == 0
    assert json.loads((out / "sampling.json").read_text()) == {"nfe": 3, "cfg": 0.5}
    synth = Synthesizer.from_pretrained(out)
    assert synth.sampling == {"nfe": 3, "cfg": 0.5}
    options = synth.default_options(seed=1)
    assert (options.nfe, options.cfg, options.sway, options.seed) == (3, 0.5, -1.0, 1)
    ref = (parts["clips"]["anna"], "anna speaks.")
    implicit = synth.speak("Hi there.", *ref, seed=1)  # no options: the model's defaults
    assert np.array_equal(implicit.wav, synth.speak("Hi there.", *ref, options=options).wav)
    assert not np.array_equal(implicit.wav, synth.speak("Hi there.", *ref, nfe=2, seed=1).wav)

    parser = build_parser()

    def flags(model, *extra):  # what speak_to_file makes of the CLI flags
        args = parser.parse_args(["speak", "x", "-o", "x.wav", "--model", model, *extra])
        return model_options(Synthesizer.from_pretrained(model), synthesis_overrides(args))

    assert (flags(str(out)).nfe, flags(str(out)).cfg) == (3, 0.5)
    assert (flags(str(out), "--nfe", "5").nfe, flags(str(out), "--cfg", "0").cfg) == (3 + 2, 0.0)
    assert (flags(str(parts["model"])).nfe, flags(str(parts["model"])).cfg) == (32, 2.0)
    assert main(["voices", "--model", str(out)]) == 0
    assert "sampling defaults: --nfe 3, --cfg 0.5" in capsys.readouterr().out

    (out / "sampling.json").write_text('{"nfe": 0}')
    with pytest.raises(FlowvoxError, match="sampling.json.*nfe"):
        sampling_defaults(out)
    (out / "sampling.json").write_text('{"steps": 4}')
    with pytest.raises(FlowvoxError, match="keys among nfe"):
        sampling_defaults(out)
    speech = tmp_path / "y.wav"
    assert main(["speak", "Hi.", "-o", str(speech), "--model", str(out)]) == 2
    assert "sampling.json" in capsys.readouterr().err and not speech.exists()


def test_pack_with_griffin_lim_names_it_so_loading_does_not_warn(tmp_path, parts, caplog):
    out = pack_model(parts["model"], tmp_path / "g", "griffin-lim").out_dir
    record = json.loads((out / "config.json").read_text())
    assert record["vocoder"] == "griffin-lim" and record["family"] == "infill"
    assert record["format_version"] == 1 and not (out / "vocoder").exists()
    with caplog.at_level("WARNING", logger="flowvox.infer"):
        Synthesizer.from_pretrained(out)
    assert "Griffin-Lim" not in caplog.text
    with caplog.at_level("WARNING", logger="flowvox.infer"):
        Synthesizer.from_pretrained(parts["model"])  # names no vocoder: the warning
    assert "Griffin-Lim" in caplog.text


def test_pack_stamps_a_folder_written_before_the_family_stamp(tmp_path, parts):
    """A format-0 source (config.json of bare InfillTTSConfig fields) packs into a stamped
    folder that loads as the same model."""
    old = tmp_path / "old"
    shutil.copytree(parts["model"], old)
    record = json.loads((old / "config.json").read_text())
    model_fields = record.get("model", record)
    (old / "config.json").write_text(json.dumps(model_fields))
    out = pack_model(old, tmp_path / "packed", "griffin-lim", half=False).out_dir
    packed = json.loads((out / "config.json").read_text())
    assert packed["family"] == "infill" and packed["format_version"] == 1
    assert packed["model"] == model_fields
    assert (
        Synthesizer.from_pretrained(out).model.config
        == Synthesizer.from_pretrained(old).model.config
    )
