"""The d-vector cache of a prepared folder and the choice of each utterance's condition."""
# m: utterances, k: d-vector channels

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from flowvox.audio import load_audio
from flowvox.audio.dvector import DVECTOR_DIM, DVectorEncoder
from flowvox.data.dvectors import (
    DVECTOR_FILE,
    SpeakerVectors,
    build_dvectors,
    cached_dvectors,
    speaker_vectors,
)
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from tests.models.dvector_helpers import CountingEmbed, counting_encoders, speakers_prepared


@pytest.fixture
def clips(tmp_path, write_wav):
    """Three wavs of other pitches and lengths, and the cache folder."""
    paths = [write_wav(tmp_path / f"c{i}.wav", 0.3 + 0.1 * i, freq=200 + 100 * i) for i in range(3)]
    folder = tmp_path / "prepared"
    folder.mkdir()
    return folder, paths


def direct(embed, path) -> torch.Tensor:
    clip = load_audio(path, 16000)
    return torch.from_numpy(embed(clip.wav, clip.sample_rate))


def test_rows_are_computed_once_then_read_back(clips):
    folder, paths = clips
    embed = CountingEmbed()
    table = cached_dvectors(folder, [paths[2], paths[0], paths[2], paths[1]], embed, "fake")
    assert table.shape == (4, DVECTOR_DIM) and embed.calls == 3  # the repeated file once
    for row, path in zip(table, [paths[2], paths[0], paths[2], paths[1]], strict=True):
        assert torch.equal(row, direct(CountingEmbed(), path))
    again = cached_dvectors(folder, [paths[1], paths[2]], embed, "fake")
    assert embed.calls == 3 and torch.equal(again, table[[3, 0]])
    with safe_open(str(folder / DVECTOR_FILE), framework="pt") as fh:
        meta = fh.metadata()
        assert fh.get_tensor("dvectors").shape == (3, DVECTOR_DIM)
    assert meta["encoder"] == "fake" and sorted(json.loads(meta["paths"])) == sorted(
        str(p.resolve()) for p in paths
    )


def test_a_changed_file_is_recomputed_alone_and_other_rows_stay(clips, write_wav):
    folder, paths = clips
    embed = CountingEmbed()
    first = cached_dvectors(folder, paths, embed, "fake")
    write_wav(paths[1], 0.45, freq=900)  # other audio, other size
    cached_dvectors(folder, paths[:1], embed, "fake")  # asks for another file: row 1 dropped
    assert embed.calls == 3
    again = cached_dvectors(folder, paths, embed, "fake")
    assert embed.calls == 4  # only the changed file
    assert torch.equal(again[0], first[0]) and torch.equal(again[2], first[2])
    assert not torch.equal(again[1], first[1])
    assert torch.equal(again[1], direct(CountingEmbed(), paths[1]))


def test_a_gone_file_keeps_its_row_and_a_new_gone_file_is_an_error(clips, tmp_path):
    folder, paths = clips
    embed = CountingEmbed()
    first = cached_dvectors(folder, paths, embed, "fake")
    paths[0].unlink()
    assert torch.equal(cached_dvectors(folder, paths[:1], embed, "fake"), first[:1])
    assert embed.calls == 3
    with pytest.raises(FlowvoxError, match="nowhere.wav: audio file missing"):
        cached_dvectors(folder, [tmp_path / "nowhere.wav"], embed, "fake")


def test_another_encoder_or_an_unreadable_cache_recomputes_everything(clips):
    folder, paths = clips
    embed = CountingEmbed()
    cached_dvectors(folder, paths, embed, "fake")
    cached_dvectors(folder, paths, embed, "fake v2")
    assert embed.calls == 6
    (folder / DVECTOR_FILE).write_bytes(b"not a safetensors file")
    table = cached_dvectors(folder, paths, embed, "fake v2")
    assert embed.calls == 9 and torch.equal(table[0], direct(CountingEmbed(), paths[0]))


def test_silent_audio_is_a_one_line_error_naming_the_file(clips, write_wav):
    folder, _ = clips
    silent = write_wav(folder.parent / "silent.wav", 0.3, data=np.zeros(4800, np.float32))
    with pytest.raises(FlowvoxError, match=r"silent.wav: no speaker d-vector \(.*silent"):
        cached_dvectors(folder, [silent], DVectorEncoder())  # refused before resemblyzer loads
    assert not (folder / DVECTOR_FILE).exists()  # nothing half-written


SPEAKERS = ["a", "a", "a", "b", "b", "solo", "unknown", ""]


def test_partners_are_other_utterances_of_the_same_speaker():
    table = torch.arange(8.0)[:, None].expand(8, 4)  # row i holds i
    vectors = SpeakerVectors(table, SPEAKERS)
    indices = torch.arange(8).repeat(500)  # (4000,)
    got = vectors.partners(indices, torch.Generator().manual_seed(0)).view(500, 8)
    for i in range(3):  # speaker "a": the two others, about equally often, never itself
        counts = torch.bincount(got[:, i], minlength=8)
        assert counts[i] == 0 and counts[:3].sum() == 500 and abs(int(counts.max()) - 250) < 45
    assert bool((got[:, 3] == 4).all()) and bool((got[:, 4] == 3).all())
    for i in (5, 6, 7):  # alone, or no speaker label: its own
        assert bool((got[:, i] == i).all())
    gen = torch.Generator().manual_seed(3)
    drawn = vectors.draw(torch.tensor([0, 3, 5]), gen)
    again = torch.Generator().manual_seed(3)
    expected = vectors.partners(torch.tensor([0, 3, 5]), again)
    assert torch.equal(drawn, table[expected]) and torch.equal(gen.get_state(), again.get_state())
    torch.rand(3, generator=(used := torch.Generator().manual_seed(3)))
    assert torch.equal(gen.get_state(), used.get_state())  # b draws, whatever the groups
    assert torch.equal(vectors.own(torch.tensor([6, 1])), table[[6, 1]])
    with pytest.raises(FlowvoxError, match="8 utterances"):
        SpeakerVectors(table[:5], SPEAKERS)


def test_build_dvectors_fills_every_split_of_a_prepared_folder(tmp_path, monkeypatch):
    prepared = speakers_prepared(tmp_path)
    counter = counting_encoders(monkeypatch)
    assert build_dvectors(prepared) == 7 and counter.calls == 7
    train = read_manifest(prepared / "train.jsonl")
    vectors = speaker_vectors(prepared, train)
    assert counter.calls == 7 and vectors.table.shape == (6, DVECTOR_DIM)
    with pytest.raises(FlowvoxError, match="no dev.jsonl"):
        build_dvectors(prepared, ["dev"])
