"""Corpus readers: LJSpeech, wav+txt folders, JSONL manifests, and layout detection."""

import json

import pytest

from flowvox.data import (
    locate_entries,
    read_entries,
    read_ljspeech,
    read_manifest,
    read_wav_txt_folder,
)
from flowvox.errors import FlowvoxError


def make_ljspeech(root, lines):
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_ljspeech_uses_normalised_column_when_present(tmp_path, write_wav):
    root = make_ljspeech(
        tmp_path / "LJ",
        [
            "LJ001|Dr. Smith paid $5.|Doctor Smith paid five dollars.",
            "LJ002|Plain text only.|",
            "LJ003|Two fields.",
        ],
    )
    write_wav(root / "wavs" / "LJ001.wav")
    entries = read_ljspeech(root)
    assert [e.text for e in entries] == [
        "Doctor Smith paid five dollars.",
        "Plain text only.",
        "Two fields.",
    ]
    assert [e.audio for e in entries] == [
        str((root / "wavs" / f"LJ00{i}.wav").resolve()) for i in (1, 2, 3)
    ]
    assert {e.speaker for e in entries} == {"LJ"}
    assert read_ljspeech(root, speaker="linda")[0].speaker == "linda"
    # detection: the folder and the metadata.csv file itself
    assert read_entries(root) == entries
    assert read_entries(root / "metadata.csv") == entries


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [("LJ002|a|b|c", "got 4 field"), ("LJ002", "got 1 field"), ("LJ002| |", "no text")],
)
def test_ljspeech_malformed_line_names_file_and_line(tmp_path, bad_line, message):
    root = make_ljspeech(tmp_path / "LJ", ["LJ001|fine|fine", bad_line])
    with pytest.raises(FlowvoxError, match=rf"metadata\.csv:2: .*{message}"):
        read_ljspeech(root)


def test_wav_txt_folder_recursive_with_speakers(tmp_path, write_wav):
    root = tmp_path / "corpus"
    write_wav(root / "alice" / "a1.wav")
    (root / "alice" / "a1.txt").write_text("Hello\n  there.\n", encoding="utf-8")
    write_wav(root / "bob" / "deep" / "b1.flac")
    (root / "bob" / "deep" / "b1.txt").write_text("Good day.", encoding="utf-8")
    write_wav(root / "bob" / "orphan.wav")  # no transcript: left out with a warning
    with pytest.warns(UserWarning, match="1 audio file"):
        entries = read_wav_txt_folder(root)
    assert [(e.text, e.speaker) for e in entries] == [
        ("Hello there.", "alice"),
        ("Good day.", "deep"),
    ]
    assert entries[1].audio == str((root / "bob" / "deep" / "b1.flac").resolve())
    with pytest.warns(UserWarning):
        fixed = read_wav_txt_folder(root, speaker="narrator")
    assert {e.speaker for e in fixed} == {"narrator"}
    with pytest.warns(UserWarning):
        assert read_entries(root) == entries


def test_wav_txt_empty_transcript_names_the_file(tmp_path, write_wav):
    write_wav(tmp_path / "x.wav")
    (tmp_path / "x.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(FlowvoxError, match=r"x\.txt: the transcript is empty"):
        read_wav_txt_folder(tmp_path)


def test_manifest_file_and_folder(tmp_path):
    lines = [
        {"audio": "wavs/a.wav", "text": "one", "speaker": "s1", "split": "train"},
        {"audio": "/abs/b.wav", "text": "two", "split": "test", "duration": 1.5},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    entries = read_entries(manifest)
    assert entries == read_manifest(manifest) == read_entries(tmp_path)
    assert entries[0].audio == str(tmp_path.resolve() / "wavs" / "a.wav")
    assert entries[1].audio == "/abs/b.wav"
    assert [e.split for e in entries] == ["train", "test"]
    origins = [located.origin for located in locate_entries(tmp_path)]
    assert origins == [f"{manifest}:1", f"{manifest}:2"]


def test_manifest_line_without_text_names_file_and_line(tmp_path):
    manifest = tmp_path / "data.jsonl"
    manifest.write_text('{"audio": "a.wav", "text": "ok"}\n\n{"audio": "b.wav"}\n')
    with pytest.raises(FlowvoxError, match=r"data\.jsonl:3: .*'text'"):
        read_entries(manifest)


def test_unknown_layout_lists_the_accepted_ones(tmp_path):
    (tmp_path / "notes.md").write_text("nothing here")
    with pytest.raises(FlowvoxError, match="metadata.csv.*x.txt") as err:
        read_entries(tmp_path)
    assert "manifest.jsonl" in str(err.value)
    with pytest.raises(FlowvoxError, match="no such file or folder"):
        read_entries(tmp_path / "absent")
    with pytest.raises(FlowvoxError, match="not a dataset"):
        read_entries(tmp_path / "notes.md")
