"""Dataset statistics: counts and mel moments by their formulas, and refused inputs."""

import numpy as np
import pytest

from flowvox.data.manifest import ManifestEntry
from flowvox.data.prepare_item import PreparedItem
from flowvox.data.stats import dataset_stats
from flowvox.errors import FlowvoxError


def item(frames: int, value: float) -> PreparedItem:
    """An utterance of ``frames`` frames whose 2 mel bins all hold ``value``."""
    sums = np.full(2, value * frames)
    return PreparedItem(f"m{frames}.safetensors", frames, frames / 100, False, sums, sums * value)


def test_moments_pool_all_frames():
    entries = [ManifestEntry(audio=f"{k}.wav", text="x", speaker=f"s{k}") for k in range(2)]
    stats = dataset_stats(entries, [item(1, 0.0), item(3, 2.0)], "vocos24k")
    assert stats["utterances"] == 2 and stats["frames"] == 4
    # per bin: mean = (0·1 + 2·3) / 4 = 1.5, std = sqrt(12 / 4 − 1.5²) = sqrt(0.75)
    assert stats["mel"]["mean_per_bin"] == pytest.approx([1.5, 1.5])
    assert stats["mel"]["std_per_bin"] == pytest.approx([0.75**0.5] * 2)
    assert stats["mel"]["mean"] == pytest.approx(1.5)  # both bins alike: pooled = per bin


@pytest.mark.parametrize("count", [0, 1])
def test_entries_and_items_must_pair_up(count):
    entries = [ManifestEntry(audio="a.wav", text="x")] * 2
    with pytest.raises(FlowvoxError, match=f"2 entries and {count} prepared items"):
        dataset_stats(entries, [item(2, 1.0)] * count, "vocos24k")
