"""Reading test manifests and finding generated audio: paths resolved, bad input refused."""

import json

import numpy as np
import pytest
import soundfile as sf

from flowvox.errors import FlowvoxError
from flowvox.eval.items import find_generated, read_eval_items


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "gt").mkdir()
    for name in ("a", "b", "ref"):
        sf.write(tmp_path / "gt" / f"{name}.wav", np.zeros(1600, np.float32), 16000)
    return tmp_path


def test_reads_items_with_relative_paths_and_groups(folder):
    manifest = write_jsonl(
        folder / "test.jsonl",
        [
            {"id": "a", "text": "One.", "audio": "gt/a.wav", "ref_audio": "gt/ref.wav",
             "ref_text": "Ref.", "extra": {"group": "unseen"}},
            {"text": "Two.", "audio": str(folder / "gt" / "b.wav")},
        ],
    )  # fmt: skip
    first, second = read_eval_items(manifest)
    assert first.id == "a" and first.group == "unseen" and first.ref_text == "Ref."
    assert first.audio == str(folder / "gt" / "a.wav")
    assert first.ref_audio == str(folder / "gt" / "ref.wav")
    assert second.id == "line-000002" and second.group == "all" and second.ref_audio is None
    assert second.audio == str(folder / "gt" / "b.wav")


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"text": "x", "audio": "gt/missing.wav"}, "audio"),
        ({"text": "x", "ref_audio": "gt/missing.wav"}, "ref_audio"),
        ({"text": "x", "audio": 3}, "'audio' must be a path"),
        ({"text": "x", "extra": [1]}, "'extra' must be an object"),
        ({"audio": "gt/a.wav"}, "no 'text'"),
    ],
)
def test_bad_lines_name_the_line(folder, record, fragment):
    manifest = write_jsonl(folder / "test.jsonl", [{"text": "fine"}, record])
    with pytest.raises(FlowvoxError, match="test.jsonl:2") as err:
        read_eval_items(manifest)
    assert fragment in str(err.value)


def test_a_text_file_is_not_a_test_manifest(folder):
    (folder / "lines.txt").write_text("hello\n")
    with pytest.raises(FlowvoxError, match=r"\.jsonl"):
        read_eval_items(folder / "lines.txt")


def test_find_generated_accepts_flat_and_generate_layouts(folder):
    lines = [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]
    items = read_eval_items(write_jsonl(folder / "t.jsonl", lines))
    gen = folder / "gen"
    (gen / "wavs").mkdir(parents=True)
    sf.write(gen / "a.flac", np.zeros(160, np.float32), 16000)
    sf.write(gen / "wavs" / "b.wav", np.zeros(160, np.float32), 16000)
    found = find_generated(items, gen)
    assert found == {"a": gen / "a.flac", "b": gen / "wavs" / "b.wav"}
    (gen / "wavs" / "b.wav").unlink()
    with pytest.raises(FlowvoxError, match=r"no audio for 1 of 2 ids \(b\)"):
        find_generated(items, gen)
    with pytest.raises(FlowvoxError, match="no such folder"):
        find_generated(items, folder / "nowhere")
