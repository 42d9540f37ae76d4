"""The standard test set: held-out items with same-voice references, unseen voices, LibriVox."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flowvox.data.manifest import ManifestEntry, write_manifest
from flowvox.errors import FlowvoxError
from flowvox.eval.items import read_eval_items
from flowvox.eval.testset import LIBRIVOX_DIR, EvalSetConfig, build_testset


@pytest.fixture
def corpus(tmp_path):
    """Two voices, four utterances each; two of each voice are in the test split."""
    root = tmp_path / "corpus"
    entries = []
    for voice in ("flite-rms", "flite-slt"):
        (root / "wavs" / voice).mkdir(parents=True)
        for k in range(4):
            path = root / "wavs" / voice / f"{voice}_{k:05d}.wav"
            sf.write(path, np.zeros(800, np.float32), 16000)
            entries.append(
                ManifestEntry(
                    audio=str(path), text=f"Sentence number {k} of {voice}.", speaker=voice,
                    split="test" if k < 2 else "train",
                    extra={"voice": voice.replace("-", ":")},
                )
            )  # fmt: skip
    write_manifest(root / "manifest.jsonl", entries)
    return root


@pytest.fixture
def librivox(tmp_path):
    root = tmp_path / "librivox"
    root.mkdir()
    lines = []
    for k, words in enumerate(["he was not an ill disposed young man", "he might even have"]):
        sf.write(root / f"clip-{k}.wav", np.zeros(800, np.float32), 16000)
        lines.append(f"<s> {words} </s> (clip-{k})")
    (root / "transcription").write_text("\n".join(lines) + "\n")
    return root


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_held_out_items_get_a_same_voice_reference_with_another_sentence(corpus, tmp_path):
    out = tmp_path / "test.jsonl"
    report = build_testset(EvalSetConfig(str(corpus), str(out), librivox=False))
    assert report.counts == {"seen": 4}
    for r in records(out):
        assert r["extra"]["group"] == "seen" and r["audio"].endswith(f"{r['id']}.wav")
        assert r["speaker"] in r["ref_audio"] and r["ref_text"] != r["text"]
        assert int(r["id"][-1]) < 2  # only the test split
    assert len(read_eval_items(out)) == 4  # the eval reader takes it as it is


def test_unseen_voices_contribute_all_their_utterances(corpus, tmp_path):
    out = tmp_path / "test.jsonl"
    config = EvalSetConfig(str(corpus), str(out), unseen_voices=["flite:slt"], librivox=False)
    assert build_testset(config).counts == {"seen": 2, "unseen": 4}
    unseen = [r for r in records(out) if r["extra"]["group"] == "unseen"]
    assert {r["speaker"] for r in unseen} == {"flite-slt"}
    with pytest.raises(FlowvoxError, match="no such voice"):
        build_testset(EvalSetConfig(str(corpus), str(out), unseen_voices=["flite:kal"]))


def test_speakers_held_out_in_test_unseen_are_unseen_without_naming_them(corpus, tmp_path):
    manifest = corpus / "manifest.jsonl"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    for line in lines:
        if line["speaker"] == "flite-slt":
            line["split"] = "test_unseen"  # an unseen pseudo-speaker of a corpus build
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "test.jsonl"
    assert build_testset(EvalSetConfig(str(corpus), str(out), librivox=False)).counts == {
        "seen": 2, "unseen": 4,
    }  # fmt: skip
    unseen = [r for r in records(out) if r["extra"]["group"] == "unseen"]
    assert {r["speaker"] for r in unseen} == {"flite-slt"}


def test_librivox_clips_and_zero_shot_sentences(corpus, librivox, tmp_path):
    out = tmp_path / "test.jsonl"
    config = EvalSetConfig(str(corpus), str(out), librivox_dir=str(librivox))
    assert build_testset(config).counts == {"seen": 4, "librivox": 2 + 2 * 2}
    clips = [r for r in records(out) if r["extra"]["group"] == "librivox"]
    with_truth = [r for r in clips if "audio" in r]
    assert [r["text"] for r in with_truth] == [
        "He was not an ill disposed young man.",
        "He might even have.",
    ]
    assert all(r["ref_audio"] != r["audio"] for r in with_truth)  # the other clip
    zero_shot = [r for r in clips if "audio" not in r]
    assert all(r["text"].startswith("Sentence number") for r in zero_shot)


def test_refusals_write_nothing(corpus, tmp_path):
    with pytest.raises(FlowvoxError, match="JSONL"):
        build_testset(EvalSetConfig(str(corpus), str(tmp_path / "t.txt")))
    with pytest.raises(FlowvoxError, match="pocketsphinx-testdata"):
        build_testset(EvalSetConfig(str(corpus), str(tmp_path / "t.jsonl"), librivox_dir="/nope"))
    with pytest.raises(FlowvoxError, match="--per-voice 0"):
        EvalSetConfig(str(corpus), str(tmp_path / "t.jsonl"), per_voice=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


@pytest.mark.skipif(not (LIBRIVOX_DIR / "transcription").is_file(), reason="no testdata")
def test_the_installed_librivox_clips_are_found(corpus, tmp_path):
    out = tmp_path / "test.jsonl"
    counts = build_testset(EvalSetConfig(str(corpus), str(out), librivox_sentences=0)).counts
    assert counts["librivox"] == 5


def test_file_names_that_start_with_other_characters_become_valid_ids(tmp_path):
    """Ids come from audio file names; "_take0" or "été" must still give ids the reader takes."""
    root = tmp_path / "odd"
    (root / "wavs").mkdir(parents=True)
    entries = []
    for k, stem in enumerate(["_take0", "été1", "-x2", "__"]):
        path = root / "wavs" / f"{stem}.wav"
        sf.write(path, np.zeros(800, np.float32), 16000)
        entries.append(
            ManifestEntry(audio=str(path), text=f"Sentence {k}.", speaker="v", split="test")
        )
    write_manifest(root / "manifest.jsonl", entries)
    out = tmp_path / "test.jsonl"
    build_testset(EvalSetConfig(str(root), str(out), librivox=False))
    assert [r["id"] for r in records(out)] == ["take0", "t_1", "x2", "utt"]
    assert len(read_eval_items(out)) == 4
