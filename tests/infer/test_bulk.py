"""Bulk generation (``generate_bulk``) with a fake synthesizer: batching, resume, failures."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

from flowvox.errors import FlowvoxError
from flowvox.infer.bulk import generate_bulk
from flowvox.infer.bulk_source import BulkItem, pack_batches, read_bulk_source

SR = 8000


@dataclass
class Options:
    nfe: int = 4
    cfg: float = 2.0
    speed: float = 1.0
    duration: float | None = None
    seed: int | None = None


class FakeSynth:
    """speak_batch -> one tone per text, 0.01 s per character; records every call."""

    def __init__(self, crash_after: int | None = None):
        self.calls: list[list[str]] = []
        self.references: list[tuple] = []
        self.crash_after = crash_after

    def reference(self, ref_audio, ref_text=None):
        if "missing" in str(ref_audio):
            raise FlowvoxError(f"{ref_audio}: no such audio file")
        self.references.append((ref_audio, ref_text))

    def speak_batch(self, texts, ref_audio=None, ref_text=None, options=None, seeds=None):
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise RuntimeError("simulated crash")
        self.calls.append(list(texts))
        if any("###" in text for text in texts):
            raise FlowvoxError("text has no speakable character")
        return [(0.1 * np.ones(80 * len(text), np.float32), SR) for text in texts]


def lines_file(tmp_path, lines):
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def manifest_records(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_text_file_makes_one_wav_per_line_and_a_manifest(tmp_path):
    source = lines_file(tmp_path, ["Hello there.", "", "A longer second line of text.", "Hi."])
    synth = FakeSynth()
    report = generate_bulk(synth, source, tmp_path / "out", Options(), progress=False)
    assert (report.total, report.made, report.skipped, report.failed) == (3, 3, 0, [])
    records = {r["extra"]["id"]: r for r in manifest_records(tmp_path / "out")}
    assert set(records) == {"line-000001", "line-000003", "line-000004"}  # blank line skipped
    second = records["line-000003"]
    assert second["text"] == "A longer second line of text."
    assert second["extra"]["nfe"] == 4
    wav, sr = sf.read(tmp_path / "out" / second["audio"])
    assert sr == SR and len(wav) == 80 * len(second["text"])
    assert second["duration"] == pytest.approx(len(wav) / SR)
    assert report.audio_seconds == pytest.approx(sum(r["duration"] for r in records.values()))
    assert "3 utterances made" in report.summary()
    # no temporary files are left beside the wavs
    assert sorted(p.name for p in (tmp_path / "out" / "wavs").iterdir()) == sorted(
        f"{i}.wav" for i in records
    )


def test_output_manifest_reads_as_a_flowvox_manifest(tmp_path):
    from flowvox.data.manifest import read_manifest

    source = lines_file(tmp_path, ["One.", "Two."])
    generate_bulk(FakeSynth(), source, tmp_path / "out", Options(), progress=False)
    entries = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert sorted(e.text for e in entries) == ["One.", "Two."]
    assert all(np.isclose(e.duration, sf.info(e.audio).duration, atol=1e-3) for e in entries)


def test_rerun_skips_finished_items(tmp_path):
    source = lines_file(tmp_path, ["first line", "second line", "third"])
    generate_bulk(FakeSynth(), source, tmp_path / "out", Options(), progress=False)
    again = FakeSynth()
    report = generate_bulk(again, source, tmp_path / "out", Options(), progress=False)
    assert again.calls == [] and report.skipped == 3 and report.made == 0
    # a deleted wav is made again; nothing else is
    (tmp_path / "out" / "wavs" / "line-000002.wav").unlink()
    third = FakeSynth()
    report = generate_bulk(third, source, tmp_path / "out", Options(), progress=False)
    assert third.calls == [["second line"]] and report.made == 1
    ids = [r["extra"]["id"] for r in manifest_records(tmp_path / "out")]
    assert sorted(ids) == ["line-000001", "line-000002", "line-000003"]  # listed once each


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    lines = [f"utterance number {i}" + "x" * (3 * i) for i in range(8)]
    source = lines_file(tmp_path, lines)
    crashing = FakeSynth(crash_after=1)
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_bulk(crashing, source, tmp_path / "out", Options(), batch_frames=700,
                      progress=False)  # fmt: skip
    first_batch = crashing.calls[0]
    assert 0 < len(first_batch) < len(lines)
    assert max(lines, key=len) in first_batch  # longest first: memory trouble shows early
    kept = manifest_records(tmp_path / "out")
    assert sorted(r["text"] for r in kept) == sorted(first_batch)
    # a torn manifest line from a killed append is dropped, not fatal
    with (tmp_path / "out" / "manifest.jsonl").open("a") as handle:
        handle.write('{"audio": "wavs/torn')
    resumed = FakeSynth()
    report = generate_bulk(resumed, source, tmp_path / "out", Options(), batch_frames=700,
                           progress=False)  # fmt: skip
    spoken = [text for call in resumed.calls for text in call]
    assert sorted(spoken) == sorted(set(lines) - set(first_batch))
    assert report.skipped == len(first_batch) and report.made == len(lines) - len(first_batch)
    assert sorted(r["text"] for r in manifest_records(tmp_path / "out")) == sorted(lines)


def test_batches_group_similar_lengths_under_the_frame_budget():
    items = [BulkItem(f"i{k}", "x" * n, f"f:{k}") for k, n in enumerate([5, 50, 6, 48, 7, 200])]
    batches = pack_batches(items, lambda item: len(item.text), batch_frames=100)
    for batch in batches:
        sizes = [len(item.text) for item in batch]
        assert len(batch) == 1 or len(batch) * max(sizes) <= 100
    texts = [[len(item.text) for item in batch] for batch in batches]
    assert texts == [[5, 6, 7], [48, 50], [200]]  # the long one alone, over budget


def test_batches_never_mix_references():
    items = [
        BulkItem("a", "same length", "f:1", ref_audio="a.wav"),
        BulkItem("b", "same length", "f:2", ref_audio="b.wav"),
        BulkItem("c", "same length", "f:3", ref_audio="a.wav"),
    ]
    batches = pack_batches(items, lambda item: 10, batch_frames=1000)
    assert [[item.id for item in batch] for batch in batches] == [["a", "c"], ["b"]]


def test_jsonl_source_with_references_and_ids(tmp_path):
    (tmp_path / "me.wav").write_bytes(b"")  # the fake synth does not read it
    lines = [
        {"id": "greeting", "text": "Hello.", "ref_audio": "me.wav", "ref_text": "Me."},
        {"text": "No reference here."},
        {"id": "other", "text": "Also me.", "ref_audio": "me.wav", "ref_text": "Me.",
         "speaker": "spk1"},
    ]  # fmt: skip
    source = tmp_path / "prompts.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    synth = FakeSynth()
    generate_bulk(synth, source, tmp_path / "out", Options(), progress=False)
    # each reference checked once, up front (None: the model's default reference)
    assert synth.references == [(str(tmp_path / "me.wav"), "Me."), (None, None)]
    assert sorted(map(sorted, synth.calls)) == [["Also me.", "Hello."], ["No reference here."]]
    records = {r["extra"]["id"]: r for r in manifest_records(tmp_path / "out")}
    assert set(records) == {"greeting", "line-000002", "other"}
    assert records["other"]["speaker"] == "spk1" and records["greeting"]["speaker"] == "me"


def test_refused_items_are_reported_and_the_rest_is_made(tmp_path):
    source = lines_file(tmp_path, ["good one", "###", "good two"])
    report = generate_bulk(FakeSynth(), source, tmp_path / "out", Options(), progress=False)
    assert report.made == 2 and len(report.failed) == 1
    assert "lines.txt:2" in report.failed[0] and "1 failed" in report.summary()
    assert not (tmp_path / "out" / "wavs" / "line-000002.wav").exists()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("\n\n  \n", "empty.txt", "no text to speak"),
        ('{"text": "a"}\nnot json\n', "bad.jsonl", "bad.jsonl:2: not valid JSON"),
        ('{"txt": "a"}\n', "typo.jsonl", "unknown keys"),
        ('{"text": "a", "id": "../x"}\n', "id.jsonl", "not a safe file name"),
        ('{"text": "a", "id": "x"}\n{"text": "b", "id": "x"}\n', "dup.jsonl", "also used"),
        ('{"text": "a", "ref_text": "b"}\n', "reftext.jsonl", "'ref_text' needs 'ref_audio'"),
    ],
)
def test_bad_sources_are_refused_before_any_work(tmp_path, content, name, message):
    (tmp_path / name).write_text(content)
    synth = FakeSynth()
    with pytest.raises(FlowvoxError, match=message):
        generate_bulk(synth, tmp_path / name, tmp_path / "out", Options(), progress=False)
    assert synth.calls == [] and not (tmp_path / "out").exists()


def test_bad_reference_and_changed_source_are_refused(tmp_path):
    source = lines_file(tmp_path, ["one", "two"])
    synth = FakeSynth()
    with pytest.raises(FlowvoxError, match="missing.wav"):
        generate_bulk(synth, source, tmp_path / "out", Options(), ref_audio="missing.wav",
                      progress=False)  # fmt: skip
    assert synth.calls == []
    generate_bulk(synth, source, tmp_path / "out", Options(), progress=False)
    lines_file(tmp_path, ["one", "changed"])
    with pytest.raises(FlowvoxError, match="other text"):
        generate_bulk(FakeSynth(), source, tmp_path / "out", Options(), progress=False)
    with pytest.raises(FlowvoxError, match="no such folder"):
        generate_bulk(synth, source, tmp_path / "no" / "out", Options(), progress=False)


def test_seed_gives_each_item_its_own_repeatable_noise(tmp_path):
    # with a seed each item gets seed + crc32(id): its own noise, the same in any batch
    seen = {}

    class SeedSynth(FakeSynth):
        def speak_batch(self, texts, ref_audio=None, ref_text=None, options=None, seeds=None):
            seen.update(zip(texts, seeds, strict=True))
            return super().speak_batch(texts, ref_audio, ref_text, options)

    texts = ["a" * 10, "b" * 200, "c" * 12]
    source = lines_file(tmp_path, texts)
    generate_bulk(SeedSynth(), source, tmp_path / "out", Options(seed=3), batch_frames=100,
                  progress=False)  # fmt: skip
    first = dict(seen)
    assert len(set(first.values())) == 3  # every line its own noise
    seen.clear()
    generate_bulk(SeedSynth(), source, tmp_path / "again", Options(seed=3), batch_frames=10**6,
                  progress=False)  # fmt: skip
    assert seen == first  # one batch this time, the same seeds
    seen.clear()
    generate_bulk(SeedSynth(), source, tmp_path / "other", Options(seed=4), progress=False)
    assert all(seen[t] != first[t] for t in texts)


def test_read_bulk_source_gives_default_reference(tmp_path):
    source = lines_file(tmp_path, ["a line"])
    (item,) = read_bulk_source(source, ref_audio="r.wav", ref_text="R.")
    assert (item.ref_audio, item.ref_text, item.origin) == ("r.wav", "R.", f"{source}:1")


def test_real_synthesizer_batches_give_what_speak_gives_alone(tmp_path, synth, ref_wav):
    from flowvox.infer import SynthesisOptions

    texts = ["Short one.", "A somewhat longer second sentence.", "Third line here."]
    source = lines_file(tmp_path, texts)
    options = SynthesisOptions(nfe=2, cfg=0.0, seed=0)
    report = generate_bulk(
        synth, source, tmp_path / "out", options, batch_frames=2000, progress=False,
        ref_audio=ref_wav, ref_text="a short reference clip.",
    )  # fmt: skip
    assert report.made == 3 and report.batches < 3  # some lines shared a batch
    records = {r["text"]: r for r in manifest_records(tmp_path / "out")}
    item_seed = zlib.crc32(records[texts[1]]["extra"]["id"].encode()) % 2**31  # seed 0 + crc
    item_options = SynthesisOptions(nfe=2, cfg=0.0, seed=item_seed)
    alone, sr = synth.speak(texts[1], ref_wav, "a short reference clip.", item_options)
    made, made_sr = sf.read(tmp_path / "out" / records[texts[1]]["audio"], dtype="float32")
    assert made_sr == sr and len(made) == len(alone)
    assert np.abs(made - alone).max() < 2e-3  # 16-bit PCM rounding and float tolerance


def test_progress_bar_counts_frames_and_utterances(tmp_path, capsys):
    source = lines_file(tmp_path, ["one line", "two lines"])
    generate_bulk(FakeSynth(), source, tmp_path / "out", Options(), progress=True)
    err = capsys.readouterr().err
    assert "generate: 100%" in err and "2/2 utt" in err
