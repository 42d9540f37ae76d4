"""evaluate_sound_model: one row per system plus ground truth, ground truth judged as the
judges judge it, per-line seeds, resumable wavs, and bad inputs as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from flowvox.audio.io import load_audio
from flowvox.cli.main import main
from flowvox.data.manifest import read_manifest
from flowvox.data.sounds.build import SoundCorpusConfig, build_sound_corpus
from flowvox.errors import FlowvoxError
from flowvox.eval.sound.copy_synthesis import COPY_VAE, COPY_VOCODER, copy_synthesise
from flowvox.eval.sound.judges import attribute_accuracy, judge_clip
from flowvox.eval.sound.run import GROUND_TRUTH, evaluate_sound_model
from flowvox.infer.sound import SoundGenerator
from tests.infer.test_sound import tiny_sound_folder

SPLITS = ("train", "test", "test_unseen")  # 6 clips: use all of them


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    config = SoundCorpusConfig(out, clips=6, seed=3, workers=1, seconds=2.0)
    build_sound_corpus(config, progress=False)
    return out / "manifest.jsonl"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_sound_folder(tmp_path_factory.mktemp("sound") / "model")


@pytest.fixture(scope="module")
def evaluated(corpus, model, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    report = evaluate_sound_model(
        model, corpus, out, steps=(1, 2), cfgs=(1.0, 3.0), splits=SPLITS, batch_size=4
    )
    return out, report


def test_results_have_ground_truth_and_one_row_per_system(evaluated):
    out, report = evaluated
    data = json.loads((out / "results.json").read_text())
    names = [s["name"] for s in data["systems"]]
    systems = ["steps1_cfg1", "steps1_cfg3", "steps2_cfg1", "steps2_cfg3"]
    assert names == [GROUND_TRUTH, COPY_VOCODER, COPY_VAE, *systems]
    assert data["lines"] == 6
    copies = {row["name"]: row for row in data["systems"][1:3]}
    assert copies[COPY_VOCODER]["mel_l1"] is None and copies[COPY_VAE]["mel_l1"] > 0
    for row in copies.values():
        assert len(list((out / row["folder"]).glob("*.wav"))) == 6 and row["fd"] >= 0
    for row in data["systems"][3:]:
        assert len(list((out / row["folder"]).glob("*.wav"))) == 6
        assert row["fd"] is not None and row["fd"] >= 0 and row["rtf"] > 0
        assert set(row["accuracy"]) >= {"all", "train"}
    table = (out / "results.md").read_text()
    for name in names:
        assert f"| {name} |" in table
    assert "| system | count |" in table and "FD | RTF | mel L1 |" in table


def test_copy_synthesis_through_the_vae_measures_its_mel_l1(model, corpus, tmp_path):
    gen = SoundGenerator.from_pretrained(model)
    entry = read_manifest(corpus)[0]
    l1 = copy_synthesise(gen, {0: Path(entry.audio)}, tmp_path / "vae", through_vae=True)
    clip = load_audio(entry.audio, gen.sample_rate)
    mel = gen.mel_spectrogram(clip.wav)  # (n, m) with n a multiple of r
    with torch.inference_mode():
        recon = gen.vae.decode(gen.vae.encode(mel[None]).mode())[0]
    assert l1 == pytest.approx(float((recon - mel).abs().mean()), rel=1e-5)
    written = load_audio(tmp_path / "vae" / "000000.wav")
    assert written.wav.shape == clip.wav.shape  # cut or padded to the clip
    # the vocoder-only copy has no L1, and a rerun keeps what was written
    assert copy_synthesise(gen, {0: Path(entry.audio)}, tmp_path / "voc", through_vae=False) is None
    before = (tmp_path / "vae" / "000000.wav").stat().st_mtime_ns
    assert copy_synthesise(gen, {0: Path(entry.audio)}, tmp_path / "vae", through_vae=True) == l1
    assert (tmp_path / "vae" / "000000.wav").stat().st_mtime_ns == before


def test_ground_truth_accuracy_is_judging_the_clips_directly(evaluated, corpus):
    _, report = evaluated
    entries = read_manifest(corpus)
    pairs = []
    for e in entries:
        clip = load_audio(e.audio)
        pairs.append((judge_clip(clip.wav, clip.sample_rate), e.extra["attributes"]))
    assert report.system(GROUND_TRUTH).accuracy["all"] == attribute_accuracy(pairs)


def test_systems_use_the_per_line_seed(evaluated, model, corpus):
    out, _ = evaluated
    # line 3 alone gives the wav its batch of 4 gave it (seed 0 + line index 3)
    entry = read_manifest(corpus)[3]
    gen = SoundGenerator.from_pretrained(model)
    alone = gen.generate(entry.text, seconds=entry.duration, steps=2, cfg=3.0, seed=3)
    written = load_audio(out / "steps2_cfg3" / "000003.wav").wav
    assert np.abs(alone.wav - written).max() <= 1e-4 * np.abs(alone.wav).max()


def test_a_rerun_keeps_the_wavs(evaluated, model, corpus):
    out, first = evaluated
    wavs = sorted(out.glob("*/*.wav"))
    before = {p: p.stat().st_mtime_ns for p in wavs}
    again = evaluate_sound_model(
        model, corpus, out, steps=(1, 2), cfgs=(1.0, 3.0), splits=SPLITS, batch_size=4
    )
    assert {p: p.stat().st_mtime_ns for p in wavs} == before
    assert [s.accuracy for s in again.systems] == [s.accuracy for s in first.systems]
    assert [s.rtf for s in again.systems] == [s.rtf for s in first.systems]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (dict(manifest="absent.jsonl"), "no such manifest"),
        (dict(splits=("nowhere",)), "no lines in splits"),
        (dict(steps=(0,)), "steps=0"),
        (dict(cfgs=(-1.0,)), "cfg=-1.0"),
        (dict(limit=0), "limit=0"),
        (dict(batch_size=0), "batch_size=0"),
    ],
)
def test_bad_inputs_are_one_line_errors(corpus, model, tmp_path, kwargs, fragment):
    args = dict(model_dir=model, manifest=corpus, out_dir=tmp_path / "out", splits=SPLITS)
    args |= kwargs
    if kwargs.get("manifest"):
        args["manifest"] = tmp_path / kwargs["manifest"]
    with pytest.raises(FlowvoxError) as err:
        evaluate_sound_model(**args)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_cli_limits_lines_and_reports_bad_input(corpus, model, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["eval", "sound", str(model), str(corpus), str(out), "--steps", "1", "--cfg", "1"]
    argv += ["--limit", "2"]
    assert main([*argv, "--splits", *SPLITS]) == 0
    assert json.loads((out / "results.json").read_text())["lines"] == 2
    assert len(list((out / "steps1_cfg1").glob("*.wav"))) == 2
    assert "| ground truth |" in capsys.readouterr().out
    assert main([*argv, "--steps", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
