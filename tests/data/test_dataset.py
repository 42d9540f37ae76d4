"""MelDataset (on the fly and cached), collate_utterances, and a DataLoader round trip."""

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from flowvox.audio.mel import get_mel_preset
from flowvox.data import (
    FrameBudgetBatchSampler,
    ManifestEntry,
    MelDataset,
    Utterance,
    collate_utterances,
    prepare_dataset,
    read_entries,
    write_manifest,
)
from flowvox.errors import FlowvoxError

VOCOS = get_mel_preset("vocos24k")


@pytest.fixture
def source(tmp_path, write_wav):
    """A manifest of three clips at other sample rates than 24 kHz."""
    clips = [
        ("a.wav", 0.30, 16000, "s1"),
        ("b.flac", 0.45, 22050, "s2"),
        ("c.wav", 0.2, 16000, "s1"),
    ]
    entries = []
    for k, (name, seconds, sr, speaker) in enumerate(clips):
        path = write_wav(tmp_path / "src" / name, seconds, sr, freq=300 + 100 * k)
        entries.append(ManifestEntry(audio=str(path), text=f"clip {k}", speaker=speaker))
    write_manifest(tmp_path / "src" / "manifest.jsonl", entries)
    return tmp_path / "src"


def test_on_the_fly_item(source):
    dataset = MelDataset(read_entries(source), VOCOS)
    item = dataset[1]
    assert isinstance(item, Utterance)
    samples = sf.info(str(source / "b.flac")).frames
    resampled = (2 * samples * 24000 + 22050) // (2 * 22050)  # round half up, as soxr
    assert item.mel.shape == (resampled // 256 + 1, 100)  # centred STFT: len // hop + 1
    assert item.mel.dtype == torch.float32
    assert (item.text, item.speaker, item.language, item.index) == ("clip 1", "s2", "en", 1)
    assert item.audio_path == str(source / "b.flac")
    assert dataset.lengths == [dataset[i].mel.shape[0] for i in range(len(dataset))]


def test_cached_mels_equal_on_the_fly(source, tmp_path):
    prepare_dataset(source, tmp_path / "out", workers=2, progress=False)
    fly = MelDataset(read_entries(source), VOCOS)
    cached = MelDataset.from_prepared(tmp_path / "out")
    by_name = MelDataset(read_entries(source), VOCOS, cache_dir=tmp_path / "out")  # key by path
    assert len(cached) == len(fly) == 3
    for i in range(3):
        assert cached[i].audio_path == fly[i].audio_path
        assert torch.equal(cached[i].mel, fly[i].mel)
        assert torch.equal(by_name[i].mel, fly[i].mel)
    assert cached.lengths == fly.lengths


def test_cache_with_another_preset_names_both(source, tmp_path):
    prepare_dataset(source, tmp_path / "out", mel_preset="hifigan22k", progress=False)
    with pytest.raises(FlowvoxError, match=r"'vocos24k'.*'hifigan22k'"):
        MelDataset(read_entries(source), VOCOS, cache_dir=tmp_path / "out")
    with pytest.raises(FlowvoxError, match=r"'vocos24k'.*'hifigan22k'"):
        MelDataset.from_prepared(tmp_path / "out", mel_config=VOCOS)
    assert MelDataset.from_prepared(tmp_path / "out")[0].mel.shape[1] == 80


def test_missing_cache_folder_is_a_clear_error(source, tmp_path):
    with pytest.raises(FlowvoxError, match="not a prepared folder"):
        MelDataset(read_entries(source), VOCOS, cache_dir=tmp_path / "nothing")


def test_collate_pads_and_masks():
    mels = [torch.randn(n, 4) for n in (3, 5, 2)]
    batch = collate_utterances(
        [Utterance(m, f"t{k}", f"s{k}", "en", f"{k}.wav", k + 10) for k, m in enumerate(mels)]
    )
    assert batch.mel.shape == (3, 5, 4)
    assert batch.mel_lengths.tolist() == [3, 5, 2]
    expected_mask = [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    assert batch.mask.dtype == torch.bool
    assert batch.mask.tolist() == [[bool(x) for x in row] for row in expected_mask]
    for k, m in enumerate(mels):
        assert torch.equal(batch.mel[k, : len(m)], m)
        assert torch.all(batch.mel[k, len(m) :] == 0)
    assert batch.texts == ["t0", "t1", "t2"] and batch.speakers == ["s0", "s1", "s2"]
    assert batch.indices.tolist() == [10, 11, 12]


def test_dataloader_with_frame_budget(source, tmp_path):
    prepare_dataset(source, tmp_path / "out", progress=False)
    dataset = MelDataset.from_prepared(tmp_path / "out")
    sampler = FrameBudgetBatchSampler(dataset.lengths, max_frames=60, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_utterances)
    seen = []
    for batch in loader:
        assert batch.mel.shape[0] * batch.mel.shape[1] <= 60
        assert np.array_equal(batch.mask.sum(1).numpy(), batch.mel_lengths.numpy())
        seen += batch.indices.tolist()
    assert sorted(seen) == [0, 1, 2]


def test_cache_file_without_a_cache_is_a_clear_error(source):
    dataset = MelDataset(read_entries(source), VOCOS)
    with pytest.raises(FlowvoxError, match="computes mels on the fly"):
        dataset.cache_file(0)
