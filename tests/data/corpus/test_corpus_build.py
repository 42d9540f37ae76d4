"""Building a tiny corpus: manifest, audio, card, determinism, resume, interruption, failures."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from flowvox.data.corpus import build as build_module
from flowvox.data.corpus.build import CorpusConfig, CorpusReport, build_corpus
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError

VOICES = ["flite:kal16", "festival:cmu_us_slt_arctic_hts", "espeak:en-us+m3"]


def config(out: Path, workers: int = 1) -> CorpusConfig:
    return CorpusConfig(out, voices=VOICES, utterances=6, seed=3, workers=workers)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, CorpusReport]:
    out = tmp_path_factory.mktemp("corpus")
    return out, build_corpus(config(out, workers=2), progress=False)


def wav_files(out: Path) -> list[Path]:
    return sorted((out / "wavs").rglob("*.wav"))


def test_tiny_corpus_has_valid_audio_manifest_and_card(built):
    out, report = built
    assert (report.planned, report.built, report.skipped, report.failed) == (6, 6, 0, 0)
    entries = read_manifest(out / "manifest.jsonl")
    assert [e.extra["voice"] for e in entries] == [v for v in VOICES for _ in range(2)]
    assert len(wav_files(out)) == 6
    for e in entries:
        info = sf.info(e.audio)
        assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
        assert e.duration == pytest.approx(info.frames / 24000, abs=1e-4)
        assert e.speaker == e.extra["voice"].replace(":", "-").replace("+", "-")
        wav, _ = sf.read(e.audio, dtype="float64")
        if e.duration > 0.4:
            assert pyloudnorm.Meter(24000).integrated_loudness(wav) == pytest.approx(-23, abs=1)
    assert entries[0].extra["person"] == "kal" and "person" not in entries[-1].extra
    assert report.audio_hours == pytest.approx(sum(e.duration for e in entries) / 3600, 1e-6)
    splits = read_manifest(out / "train.jsonl") + read_manifest(out / "test.jsonl")
    assert sorted(e.audio for e in splits) == sorted(e.audio for e in entries)
    card = (out / "CORPUS.md").read_text()
    assert all(v in card for v in VOICES) and "LICENSE-wordnet.txt" in card
    assert "--utterances 6 --sample-rate 24000 --seed 3" in card
    assert "WordNet 3.0 Copyright 2006" in (out / "LICENSE-wordnet.txt").read_text()
    assert set(report.engines) == {"flite", "festival", "espeak"}


def test_same_seed_gives_the_same_corpus_byte_for_byte(built, tmp_path: Path):
    out, _ = built
    build_corpus(config(tmp_path, workers=1), progress=False)  # other worker count, same result
    assert (tmp_path / "manifest.jsonl").read_text() == (out / "manifest.jsonl").read_text()
    for mine, theirs in zip(wav_files(tmp_path), wav_files(out), strict=True):
        assert mine.relative_to(tmp_path) == theirs.relative_to(out)
        assert mine.read_bytes() == theirs.read_bytes()


def test_resume_builds_only_what_is_missing(built, tmp_path: Path):
    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    victim = wav_files(copy)[2]
    victim.unlink()
    (copy / "manifest.jsonl").unlink()
    stale = victim.parent / f".{victim.name}.abc123.wav"  # left by a killed run
    stale.write_bytes(b"half")
    report = build_corpus(config(copy), progress=False)
    assert (report.built, report.skipped, report.failed) == (1, 5, 0)
    assert victim.is_file() and not stale.exists()
    assert (copy / "manifest.jsonl").read_text() == (out / "manifest.jsonl").read_text()


def test_interrupted_build_leaves_only_whole_wavs_and_resumes(tmp_path: Path, monkeypatch):
    real = build_module.loudness_normalize
    calls = []

    def interrupt_second(wav, sample_rate, target_lufs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(wav, sample_rate, target_lufs)

    monkeypatch.setattr(build_module, "loudness_normalize", interrupt_second)
    cfg = CorpusConfig(tmp_path, voices=["espeak:en-gb-x-gbclan+m1"], utterances=3, workers=1)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(cfg, progress=False)
    assert len(list(tmp_path.rglob("*.wav"))) == 1  # one finished wav, no temporary files
    assert not (tmp_path / "manifest.jsonl").exists()
    monkeypatch.setattr(build_module, "loudness_normalize", real)
    report = build_corpus(cfg, progress=False)
    assert (report.built, report.skipped) == (2, 1)
    assert len(read_manifest(tmp_path / "manifest.jsonl")) == 3


def test_a_failed_utterance_is_reported_and_left_out(tmp_path: Path, monkeypatch):
    real = build_module.synthesize_raw

    def lose_first(voice, texts, folder):
        return [None, *real(voice, texts, folder)[1:]]

    monkeypatch.setattr(build_module, "synthesize_raw", lose_first)
    cfg = CorpusConfig(tmp_path, voices=["espeak:en-us+f2"], utterances=3, workers=1)
    report = build_corpus(cfg, progress=False)
    assert (report.built, report.failed) == (2, 1)
    assert report.failures[0].endswith("espeak:en-us+f2 wrote no audio")
    assert len(read_manifest(tmp_path / "manifest.jsonl")) == 2
    assert report.failures[0] in (tmp_path / "CORPUS.md").read_text()


def test_spanish_voices_get_spanish_text_and_its_notice(tmp_path: Path):
    if not Path("/usr/share/games/fortunes/es").is_dir():
        pytest.skip("apt-get install fortunes-es")
    cfg = CorpusConfig(tmp_path, voices=["espeak:es+m1"], utterances=2, workers=1)
    build_corpus(cfg, progress=False)
    entries = read_manifest(tmp_path / "manifest.jsonl")
    assert [e.language for e in entries] == ["es", "es"]
    assert (tmp_path / "LICENSE-fortunes-es.txt").is_file()
    assert not (tmp_path / "LICENSE-wordnet.txt").exists()
    assert np.all([e.duration > 0.5 for e in entries])


@pytest.mark.parametrize(
    ("change", "message"),
    [({"workers": 0}, "--workers 0"), ({"sample_rate": 100}, "--sample-rate 100"),
     ({"voices": ["flite:nobody"]}, "known voices: flite:kal16")],
)  # fmt: skip
def test_bad_config_is_refused_before_any_work(tmp_path: Path, change, message):
    cfg = CorpusConfig(tmp_path / "out", voices=["flite:awb"], utterances=1)
    with pytest.raises(FlowvoxError, match=message):
        build_corpus(dataclasses.replace(cfg, **change), progress=False)
    assert not (tmp_path / "out").exists()
