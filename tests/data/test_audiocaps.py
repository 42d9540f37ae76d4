"""AudioCaps-style caption tables read as datasets, and prepared with the lafma16k mel."""

from __future__ import annotations

import json

import pytest

from flowvox.data import prepare_dataset
from flowvox.data.readers import read_entries
from flowvox.errors import FlowvoxError

HEADER = "audiocap_id,youtube_id,start_time,caption\n"


@pytest.fixture
def audiocaps(tmp_path, write_wav):
    """train.csv (3 rows: files by id, by youtube_start, none) and val.csv (1 row, AudioSet
    naming), audio in audio/."""
    root = tmp_path / "ac"
    root.mkdir()
    (root / "train.csv").write_text(
        HEADER + '91139,r1nicOVtvkQ,130,"A woman talks, then a dog barks"\n'
        "58146,UDGBjjwyaqE,20,Rain falls on a roof\n"
        "11111,nofilexxxxx,0,Wind blows\n"
    )
    (root / "val.csv").write_text(HEADER + "97151,vfY_TJq7n_U,130.0,Bells ring loudly\n")
    write_wav(root / "audio" / "91139.wav", 1.0, 16000)
    write_wav(root / "audio" / "UDGBjjwyaqE_20.wav", 1.0, 16000)
    write_wav(root / "audio" / "YvfY_TJq7n_U.wav", 1.0, 16000)
    return root


def test_a_folder_of_caption_tables_reads_with_captions_splits_and_ids(audiocaps):
    with pytest.warns(UserWarning, match="1 row\\(s\\) without an audio file.*11111"):
        entries = read_entries(audiocaps)
    got = {e.extra["audiocap_id"]: (e.text, e.split, e.audio.rsplit("/", 1)[1]) for e in entries}
    assert got == {
        "91139": ("A woman talks, then a dog barks", "train", "91139.wav"),
        "58146": ("Rain falls on a roof", "train", "UDGBjjwyaqE_20.wav"),
        "97151": ("Bells ring loudly", "test", "YvfY_TJq7n_U.wav"),
    }


def test_one_table_reads_alone(audiocaps):
    entries = read_entries(audiocaps / "val.csv")
    assert [e.text for e in entries] == ["Bells ring loudly"]


def test_table_mistakes_are_one_line_errors(tmp_path, write_wav):
    (tmp_path / "t.csv").write_text(HEADER + "1,abc,0,\n")
    write_wav(tmp_path / "1.wav", 0.5, 16000)
    with pytest.raises(FlowvoxError, match="t.csv:2: the caption is empty"):
        read_entries(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text(HEADER + "2,abc,0,a caption\n")
    with pytest.raises(FlowvoxError, match="none of its 1 rows has an audio file"):
        read_entries(tmp_path / "t.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FlowvoxError, match="not a dataset"):
        read_entries(tmp_path / "other.csv")


@pytest.mark.slow
def test_prepare_writes_lafma16k_mels_and_both_splits(audiocaps, tmp_path):
    with pytest.warns(UserWarning):
        report = prepare_dataset(audiocaps, tmp_path / "prepared", mel_preset="lafma16k")
    out = tmp_path / "prepared"
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    assert len(train) == 2 and len(test) == 1 and report is not None
    assert {t["text"] for t in train} == {"A woman talks, then a dog barks", "Rain falls on a roof"}
    assert json.loads((out / "stats.json").read_text())
