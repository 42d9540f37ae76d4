"""A speaker similarity without resemblyzer, for experiments/zero_shot_study.py: cosine of
z-scored mean mel-cepstra.

Feature of an utterance: the mean over its frames of the mel-cepstra c1..c24 that MCD uses
(``flowvox.eval.mcd``: silence-trimmed 16 kHz, 10 ms frames, log-mel DCT, c0 dropped), i.e.
its long-term spectral envelope (formants, tilt; not pitch). z-scored by the mean and standard
deviation of that feature over the training utterances (``per_voice`` of each speaker), so
every coefficient counts alike:

    z(x) = (m(x) − μ) / σ,   similarity(x, y) = z(x)·z(y) / (|z(x)| |z(y)|)   ∈ [−1, 1]

and a training voice's centroid is the mean z of its utterances. On a probe corpus (6 engine
voices with 4 pseudo-speakers each, 150 utterances, z-scored over them) it gave: same speaker
0.95, two pseudo-speakers of one voice 0.14, different voices −0.06 (resemblyzer 0.88, 0.69,
0.53), and ranked same-speaker pairs above pseudo-speaker siblings with AUC 0.998
(resemblyzer 0.971). It follows the channel too (a vocoder's colouring moves it): read it
beside its ground-truth column, as a cross-check of resemblyzer's ranking, never against the
resemblyzer targets.
"""
# m: utterances, v: voices, d: cepstral coefficients (24)

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from flowvox.audio import load_audio
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.eval.mcd import analysis_wave, mel_cepstrum

COEFFICIENTS = 24


def mean_cepstrum(path: str | os.PathLike) -> np.ndarray | None:
    """Mean mel-cepstrum (d,) of an audio file; None when it holds no frame (silence)."""
    clip = load_audio(path)
    try:
        cepstra = mel_cepstrum(analysis_wave(clip.wav, clip.sample_rate), COEFFICIENTS)  # (n, d)
    except FlowvoxError:
        return None
    return cepstra.mean(0) if len(cepstra) else None


class MfccVoices:
    """The z-scoring statistics and voice centroids of a prepared folder's training split;
    similarities between files and to voices (module docstring)."""

    def __init__(self, prepared: Path, per_voice: int) -> None:
        chosen: dict[str, list[str]] = {}
        for entry in read_manifest(prepared / "train.jsonl"):
            files = chosen.setdefault(entry.speaker, [])
            if len(files) < per_voice:
                files.append(entry.audio)
        self._features: dict[str, np.ndarray | None] = {}
        raw = {v: [self._raw(p) for p in files] for v, files in chosen.items()}
        pooled = np.stack([f for fs in raw.values() for f in fs if f is not None])  # (m, d)
        self.mu, self.sigma = pooled.mean(0), pooled.std(0) + 1e-8  # (d,)
        self.names = sorted(raw)
        self.centroids = np.stack(
            [np.mean([self._z(f) for f in raw[v] if f is not None], axis=0) for v in self.names]
        )  # (v, d)

    def _raw(self, path: str) -> np.ndarray | None:
        if path not in self._features:
            self._features[path] = mean_cepstrum(path)
        return self._features[path]

    def _z(self, feature: np.ndarray) -> np.ndarray:
        return (feature - self.mu) / self.sigma

    def vector(self, path: str) -> np.ndarray | None:
        """z-scored feature (d,) of a file, None for silence."""
        feature = self._raw(path)
        return None if feature is None else self._z(feature)

    def similarity(self, a: str | None, b: str | None) -> float | None:
        """Cosine of two files' z-scored features (None: a file missing or silent)."""
        if a is None or b is None:
            return None
        x, y = self.vector(a), self.vector(b)
        if x is None or y is None:
            return None
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))

    def best(self, path: str | None, voices: list[str]) -> float | None:
        """A file's best cosine to the centroid of one of ``voices`` (None: none of them)."""
        rows = [self.names.index(v) for v in voices if v in self.names]
        x = None if path is None else self.vector(path)
        if x is None or not rows:
            return None
        c = self.centroids[rows]  # (v, d)
        return float((c @ x / (np.linalg.norm(c, axis=1) * np.linalg.norm(x))).max())
