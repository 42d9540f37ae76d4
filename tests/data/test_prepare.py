"""prepare_dataset: outputs, statistics, vocab, skipped files, NaN audio, resume, atomicity."""

import json

import numpy as np
import pytest
import torch

import flowvox.data.prepare_item as prepare_item_module
from flowvox.data import (
    ManifestEntry,
    prepare_dataset,
    read_manifest,
    read_mel,
    write_manifest,
)
from flowvox.errors import FlowvoxError

# name, seconds, sample rate, speaker, split, text
GOOD = [
    ("a.wav", 0.5, 16000, "anna", "train", "Hello world."),
    ("b.wav", 1.0, 22050, "anna", "train", "Quick brown fox!"),
    ("c.flac", 0.25, 16000, "ben", "test", "Zebra, yes?"),
]


@pytest.fixture
def source(tmp_path, write_wav):
    """Three good clips and four bad files (corrupt, empty, silent, missing)."""
    src = tmp_path / "src"
    entries = []
    for k, (name, seconds, sr, speaker, split, text) in enumerate(GOOD):
        write_wav(src / name, seconds, sr, freq=200 + 150 * k)
        entries.append(ManifestEntry(str(src / name), text, speaker=speaker, split=split))
    (src / "corrupt.wav").write_bytes(b"RIFF\x00\x01garbage" * 10)
    (src / "empty.wav").write_bytes(b"")
    write_wav(src / "silent.wav", 0.3, 16000, data=np.zeros(4800, np.float32))
    for name in ("corrupt.wav", "empty.wav", "silent.wav", "missing.wav"):
        entries.append(ManifestEntry(str(src / name), f"bad {name}", speaker="ben"))
    write_manifest(src / "manifest.jsonl", entries)
    return src


def test_outputs_stats_and_skips(source, tmp_path):
    out = tmp_path / "out"
    report = prepare_dataset(source / "manifest.jsonl", out, workers=1, progress=False)

    assert report.utterances == 3 and report.speakers == 2
    assert report.seconds == pytest.approx(1.75) and report.hours == pytest.approx(1.75 / 3600)
    assert report.computed == 3 and report.reused == 0
    assert report.skipped_by_reason == {"missing": 1, "empty": 1, "corrupt": 1, "silent": 1}
    reasons = {s.audio.rsplit("/", 1)[1]: s.reason for s in report.skipped}
    assert reasons == {
        "corrupt.wav": "corrupt",
        "empty.wav": "empty",
        "silent.wav": "silent",
        "missing.wav": "missing",
    }
    assert all(s.origin.startswith(f"{source / 'manifest.jsonl'}:") for s in report.skipped)

    saved = json.loads((out / "prepare_report.json").read_text())
    assert saved["skipped_by_reason"] == report.skipped_by_reason
    assert {s["reason"] for s in saved["skipped"]} == {"missing", "empty", "corrupt", "silent"}
    summary = (out / "prepare_summary.txt").read_text()
    for name, reason in reasons.items():
        assert any(name in line and line.startswith(reason) for line in summary.splitlines())
    assert "Skipped 4 file(s)" in report.summary()

    train, test = read_manifest(out / "train.jsonl"), read_manifest(out / "test.jsonl")
    assert [e.text for e in train] == ["Hello world.", "Quick brown fox!"]
    assert [e.text for e in test] == ["Zebra, yes?"]
    assert [e.duration for e in train + test] == [0.5, 1.0, 0.25]
    mels = [read_mel(out / e.extra["mel"], 100) for e in train + test]
    assert [m.shape[0] for m in mels] == [e.extra["mel_frames"] for e in train + test]
    assert [m.shape[0] for m in mels] == [0.5 * 24000 // 256 + 1, 24000 // 256 + 1, 6000 // 256 + 1]

    stats = json.loads((out / "stats.json").read_text())
    assert stats["utterances"] == 3
    assert stats["hours"] == pytest.approx(1.75 / 3600)
    assert stats["speakers"]["anna"]["utterances"] == 2
    assert stats["speakers"]["anna"]["hours"] == pytest.approx(1.5 / 3600)
    assert stats["speakers"]["ben"] == pytest.approx(
        {"utterances": 1, "seconds": 0.25, "hours": 0.25 / 3600}
    )
    assert stats["splits"]["test"]["utterances"] == 1
    frames = [m.shape[0] for m in mels]
    assert stats["frames"] == sum(frames)
    assert stats["frame_lengths"]["p50"] == float(np.percentile(frames, 50))
    assert stats["frame_lengths"]["max"] == max(frames)
    everything = torch.cat(mels).double()  # (N, f)
    assert np.allclose(stats["mel"]["mean_per_bin"], everything.mean(0).numpy())
    assert np.allclose(stats["mel"]["std_per_bin"], everything.std(0, unbiased=False).numpy())
    assert stats["mel"]["mean"] == pytest.approx(everything.mean().item())
    assert stats["mel"]["std"] == pytest.approx(everything.std(unbiased=False).item())

    vocab = (out / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert vocab[0] == " "
    assert set(vocab) == set("".join(text for *_, text in GOOD)) | {" "}
    assert len(vocab) == len(set(vocab)) == report.vocab_size
    assert json.loads((out / "mel_config.json").read_text())["name"] == "vocos24k"


def test_nan_audio_is_an_error_naming_file_and_line(tmp_path, write_wav):
    src = tmp_path / "src"
    good = write_wav(src / "good.wav", 0.2)
    data = np.full(3200, 0.1, np.float32)
    data[100] = np.nan
    bad = write_wav(src / "nan.wav", data=data, subtype="FLOAT")
    write_manifest(
        src / "manifest.jsonl", [ManifestEntry(str(good), "ok"), ManifestEntry(str(bad), "nan")]
    )
    with pytest.raises(FlowvoxError, match=r"nan\.wav: audio holds 1 NaN.*manifest\.jsonl:2"):
        prepare_dataset(src, tmp_path / "out", workers=2, progress=False)


def test_resume_reuses_the_cache(source, tmp_path, monkeypatch, write_wav):
    out = tmp_path / "out"
    first = prepare_dataset(source, out, progress=False)
    manifest_text = (out / "train.jsonl").read_text()
    loads = []
    original = prepare_item_module.load_audio
    monkeypatch.setattr(
        prepare_item_module, "load_audio", lambda *a, **k: loads.append(a[0]) or original(*a, **k)
    )
    second = prepare_dataset(source, out, progress=False)
    assert (second.computed, second.reused) == (0, 3)
    # no cached clip is decoded again; skipped files are examined again (they may be fixed)
    assert [p.name for p in loads] == ["silent.wav"]
    assert (out / "train.jsonl").read_text() == manifest_text
    assert second.seconds == first.seconds and second.skipped_by_reason == first.skipped_by_reason

    write_wav(source / "a.wav", 0.6, 16000)  # a changed source file is recomputed
    third = prepare_dataset(source, out, progress=False)
    assert (third.computed, third.reused) == (1, 2) and third.seconds == pytest.approx(1.85)
    assert sorted(p.name for p in loads) == ["a.wav", "silent.wav", "silent.wav"]


def test_removed_entries_are_pruned_from_the_cache(source, tmp_path):
    out = tmp_path / "out"
    prepare_dataset(source, out, progress=False)
    entries = read_manifest(source / "manifest.jsonl")
    write_manifest(source / "manifest.jsonl", entries[1:])
    report = prepare_dataset(source, out, progress=False)
    assert report.pruned == 1 and report.utterances == 2
    assert len(list((out / "mels").glob("*.safetensors"))) == 2
    assert (out / "test.jsonl").is_file()
    write_manifest(source / "manifest.jsonl", [e for e in entries if e.split != "test"])
    report = prepare_dataset(source, out, progress=False)
    assert sorted(report.manifests) == ["train"] and not (out / "test.jsonl").exists()


def test_interrupted_run_leaves_no_partial_files_and_resumes(source, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = prepare_item_module.prepare_item
    calls = []

    def interrupted(located, out_dir, mel_fn):
        calls.append(located)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(located, out_dir, mel_fn)

    monkeypatch.setattr("flowvox.data.prepare.prepare_item", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(source, out, workers=1, progress=False)
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == ["mel_config.json", "mels"]
    assert len(list((out / "mels").iterdir())) == 1
    # a run killed mid-write can leave temporaries; the next run removes them
    (out / ".train.jsonl.k2j3h.jsonl").write_text("half")
    (out / "mels" / ".a-0123.safetensors.x1.safetensors").write_bytes(b"half")
    report = prepare_dataset(source, out, progress=False)
    assert (report.computed, report.reused) == (2, 1)
    hidden = [p for p in out.rglob(".*")]
    assert hidden == []


def test_other_mel_preset_on_resume_names_both(source, tmp_path):
    prepare_dataset(source, tmp_path / "out", progress=False)
    with pytest.raises(FlowvoxError, match=r"'hifigan22k'.*'vocos24k'"):
        prepare_dataset(source, tmp_path / "out", mel_preset="hifigan22k", progress=False)


def test_all_files_bad_is_an_error_after_the_report(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "x.wav").write_bytes(b"not audio at all")
    (src / "x.txt").write_text("words")
    with pytest.raises(FlowvoxError, match="no usable audio.*corrupt"):
        prepare_dataset(src, tmp_path / "out", progress=False)
    saved = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    assert saved["skipped_by_reason"] == {"corrupt": 1}


def test_ljspeech_source_and_workers_agree(tmp_path, write_wav, capfd):
    src = tmp_path / "LJ"
    lines = []
    for k in range(4):
        write_wav(src / "wavs" / f"LJ{k}.wav", 0.1 + 0.05 * k, 22050, freq=300 + 40 * k)
        lines.append(f"LJ{k}|raw {k}|spoken {k}")
    (src / "metadata.csv").write_text("\n".join(lines) + "\n")
    serial = prepare_dataset(src, tmp_path / "one", workers=1, progress=False)
    threaded = prepare_dataset(src, tmp_path / "four", workers=4, progress=True)
    assert "prepare: 100%" in capfd.readouterr().err  # the progress bar goes to stderr
    assert serial.utterances == threaded.utterances == 4
    one, four = (
        read_manifest(tmp_path / "one" / "train.jsonl"),
        read_manifest(tmp_path / "four" / "train.jsonl"),
    )
    assert [e.text for e in one] == [f"spoken {k}" for k in range(4)]
    for a, b in zip(one, four, strict=True):
        assert torch.equal(
            read_mel(tmp_path / "one" / a.extra["mel"]),
            read_mel(tmp_path / "four" / b.extra["mel"]),
        )
