"""The texts and voice prompt that speed benchmarks speak.

Lines are WordNet example sentences (Debian ``wordnet-base``, as the corpus uses) picked
evenly over their length range, else a short fixed list; the prompt is a synthetic,
speech-like clip (speed does not depend on what the prompt says).
"""

from __future__ import annotations

import random

import numpy as np

from flowvox.data.corpus.sentences import wordnet_sentences
from flowvox.errors import FlowvoxError

REF_TEXT = "The quick brown fox jumps over the lazy dog by the river bank."
FALLBACK_LINES = [
    "Yes.",
    "Open the door.",
    "He walked to the station in the rain.",
    "The committee will meet again next week to discuss the budget.",
    "She had always wanted to see the mountains before the end of the long dry summer.",
    "After the storm had passed, the villagers gathered in the square and began, slowly and "
    "carefully, to clear the fallen branches from the road.",
]


def pick_lines(count: int, seed: int = 0) -> list[str]:
    """``count`` WordNet sentences spread evenly over the length range (fixed, shuffled)."""
    try:
        pool = sorted(set(wordnet_sentences()), key=lambda s: (len(s), s))
    except FlowvoxError:
        pool = FALLBACK_LINES
    if count >= len(pool):
        lines = (pool * (count // len(pool) + 1))[:count]
    else:
        lines = [pool[round(i * (len(pool) - 1) / max(count - 1, 1))] for i in range(count)]
    random.Random(seed).shuffle(lines)
    return lines


def stratified(lines: list[str], count: int) -> list[str]:
    """``count`` of ``lines`` evenly spaced in length order (spans short to long)."""
    ordered = sorted(lines, key=len)
    if count >= len(ordered):
        return ordered
    return [ordered[round(i * (len(ordered) - 1) / max(count - 1, 1))] for i in range(count)]


def speech_like(seconds: float, sample_rate: int = 24000) -> np.ndarray:
    """(s,) float32: syllable-like bursts of harmonics (4 per second), peak about 0.3."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sample_rate) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 2 * t), 0, None) ** 2
    return (0.3 * voice * envelope / 2.3).astype(np.float32)
