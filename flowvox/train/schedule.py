"""Learning-rate schedule: linear warm-up, then linear, cosine or constant."""

from __future__ import annotations

import math

from flowvox.train.config import TrainConfig


def lr_factor(update: int, config: TrainConfig) -> float:
    """Multiplier of the base lr at optimiser update ``update`` (0-based).

    warm-up (u < W): (u + 1) / W; after it, with p = clamp((u − W) / (max_steps − W), 0, 1)
    and r = min_lr_ratio: linear 1 − (1 − r)·p, cosine r + (1 − r)·(1 + cos πp)/2, constant 1.
    """
    warmup = config.warmup_steps
    if update < warmup:
        return (update + 1) / warmup
    span = max(config.max_steps - warmup, 1)
    progress = min(max((update - warmup) / span, 0.0), 1.0)
    floor = config.min_lr_ratio
    if config.schedule == "linear":
        return 1.0 - (1.0 - floor) * progress
    if config.schedule == "cosine":
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0
