"""Dataset statistics of a prepared folder (written as ``stats.json``).

Axis letters: f mel bins.

Mel moments over all frames of all utterances, per bin j:
mean_j = Σ x_j / N, std_j = sqrt(Σ x_j² / N − mean_j²) with N the total frame count;
the global figures pool every bin (N·f values). Frame-length percentiles use numpy's
linear interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flowvox.data.manifest import ManifestEntry
from flowvox.data.prepare_item import PreparedItem
from flowvox.errors import FlowvoxError

PERCENTILES = (5, 25, 50, 75, 95)


def dataset_stats(
    entries: Sequence[ManifestEntry], items: Sequence[PreparedItem], mel_preset: str
) -> dict:
    """Counts, hours per speaker and split, mel moments and frame-length percentiles.

    ``entries[k]`` is the utterance whose mel is ``items[k]``.
    """
    if len(entries) != len(items) or not items:
        raise FlowvoxError(
            f"dataset_stats: {len(entries)} entries and {len(items)} prepared items; give one "
            "PreparedItem per ManifestEntry, at least one"
        )
    seconds = float(sum(item.seconds for item in items))
    frames = np.array([item.frames for item in items], dtype=np.int64)
    return {
        "utterances": len(items),
        "seconds": seconds,
        "hours": seconds / 3600.0,
        "frames": int(frames.sum()),
        "speakers": _groups([e.speaker for e in entries], items),
        "languages": _groups([e.language for e in entries], items),
        "splits": _groups([e.split for e in entries], items),
        "frame_lengths": {
            "min": int(frames.min()),
            "max": int(frames.max()),
            "mean": float(frames.mean()),
            **{f"p{q}": float(np.percentile(frames, q)) for q in PERCENTILES},
        },
        "mel": {"preset": mel_preset, **_mel_moments(items)},
    }


def _groups(keys: Sequence[str], items: Sequence[PreparedItem]) -> dict:
    groups: dict[str, dict] = {}
    for key, item in zip(keys, items, strict=True):
        group = groups.setdefault(key, {"utterances": 0, "seconds": 0.0})
        group["utterances"] += 1
        group["seconds"] += item.seconds
    for group in groups.values():
        group["hours"] = group["seconds"] / 3600.0
    return dict(sorted(groups.items()))


def _mel_moments(items: Sequence[PreparedItem]) -> dict:
    count = sum(item.frames for item in items)  # N
    total = np.sum([item.mel_sum for item in items], axis=0)  # (f,)
    square = np.sum([item.mel_square_sum for item in items], axis=0)  # (f,)
    mean = total / count
    std = np.sqrt(np.maximum(square / count - mean**2, 0.0))
    pooled_mean = total.sum() / (count * len(total))
    pooled_var = square.sum() / (count * len(total)) - pooled_mean**2
    return {
        "mean": float(pooled_mean),
        "std": float(np.sqrt(max(pooled_var, 0.0))),
        "mean_per_bin": mean.tolist(),
        "std_per_bin": std.tolist(),
    }
