"""Building a tiny sound corpus: manifest, audio, card, determinism, growth, resume, failures."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flowvox.data.manifest import read_manifest
from flowvox.data.sounds import build as build_module
from flowvox.data.sounds.attributes import Event, SoundAttributes
from flowvox.data.sounds.build import SoundCorpusConfig, build_sound_corpus
from flowvox.errors import FlowvoxError

pytestmark = pytest.mark.slow  # a few seconds each: sox and speech engines run


def config(out: Path, clips: int = 6, workers: int = 1, seed: int = 3) -> SoundCorpusConfig:
    return SoundCorpusConfig(out, clips=clips, seed=seed, workers=workers, seconds=2.0)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("sounds")
    return out, build_sound_corpus(config(out, workers=2), progress=False)


def wav_files(out: Path) -> list[Path]:
    return sorted((out / "wavs").glob("*.wav"))


def test_tiny_corpus_has_clips_manifest_splits_and_card(built):
    out, report = built
    assert (report.planned, report.built, report.skipped, report.failed) == (6, 6, 0, 0)
    entries = read_manifest(out / "manifest.jsonl")
    assert [e.extra["clip_id"] for e in entries] == [f"snd{i:06d}" for i in range(6)]
    for e in entries:
        info = sf.info(e.audio)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == 32000
        assert e.duration == 2.0 and e.text in e.extra["captions"]
        events = [Event.from_dict(d) for d in e.extra["events"]]
        attributes = SoundAttributes.from_dict(e.extra["attributes"])
        assert attributes == SoundAttributes.from_events(events)
        wav, _ = sf.read(e.audio, dtype="float64")
        inside = np.zeros(len(wav), dtype=bool)
        for event in events:
            inside[round(event.start * 16000) : round(event.end * 16000)] = True
        assert not np.any(wav[~inside]) and np.abs(wav[inside]).max() > 0.01
    splits = [read_manifest(out / f"{s}.jsonl") for s in ("train", "test", "test_unseen")]
    assert sorted(e.audio for s in splits for e in s) == sorted(e.audio for e in entries)
    card = (out / "SOUNDS.md").read_text()
    assert "flowvox corpus sounds" in card and "--clips 6 --seed 3 --seconds 2" in card
    assert "brown_noise_fading_in" in card and "built 6 clips" in card
    assert json.loads((out / "sounds.json").read_text())["seed"] == 3


def test_same_seed_gives_the_same_corpus_byte_for_byte(built, tmp_path):
    out, _ = built
    build_sound_corpus(config(tmp_path, workers=1), progress=False)  # other worker count
    assert (tmp_path / "manifest.jsonl").read_bytes() == (out / "manifest.jsonl").read_bytes()
    for mine, theirs in zip(wav_files(tmp_path), wav_files(out), strict=True):
        assert mine.name == theirs.name and mine.read_bytes() == theirs.read_bytes()


def test_more_clips_keep_the_earlier_ones(built, tmp_path):
    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = {p.name: p.stat().st_mtime_ns for p in wav_files(copy)}
    report = build_sound_corpus(config(copy, clips=8), progress=False)
    assert (report.built, report.skipped) == (2, 6)
    assert {p.name: p.stat().st_mtime_ns for p in wav_files(copy)[:6]} == before
    lines = (copy / "manifest.jsonl").read_text().splitlines()
    assert lines[:6] == (out / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 8


def test_resume_builds_only_what_is_missing(built, tmp_path):
    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    victim = wav_files(copy)[2]
    victim.unlink()
    (copy / "manifest.jsonl").unlink()
    stale = victim.parent / f".{victim.name}.abc123.wav"  # left by a killed run
    stale.write_bytes(b"half")
    report = build_sound_corpus(config(copy), progress=False)
    assert (report.built, report.skipped, report.failed) == (1, 5, 0)
    assert victim.read_bytes() == (out / "wavs" / victim.name).read_bytes()
    assert not stale.exists()
    assert (copy / "manifest.jsonl").read_text() == (out / "manifest.jsonl").read_text()


def test_another_seed_in_the_same_folder_is_refused_before_writing(built, tmp_path):
    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    with pytest.raises(FlowvoxError, match="--seed"):
        build_sound_corpus(config(copy, seed=4), progress=False)
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before


def test_a_failing_clip_is_reported_and_left_out(tmp_path, monkeypatch):
    real = build_module.render_clip

    def flaky(events, *args):
        if events == flaky.victim:
            raise FlowvoxError("flite:rms wrote no audio")
        return real(events, *args)

    plans = build_module.plan_sounds(3, 3, 2.0)
    flaky.victim = plans[1].events
    monkeypatch.setattr(build_module, "render_clip", flaky)
    report = build_sound_corpus(config(tmp_path, clips=3), progress=False)
    assert (report.built, report.failed) == (2, 1)
    assert report.failures == ["snd000001: flite:rms wrote no audio"]
    assert [e.extra["clip_id"] for e in read_manifest(tmp_path / "manifest.jsonl")] == [
        "snd000000", "snd000002",
    ]  # fmt: skip
    assert "snd000001: flite:rms wrote no audio" in (tmp_path / "SOUNDS.md").read_text()
