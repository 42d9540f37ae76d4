"""Shared by the speaker d-vector tests: a prepared corpus of several speakers and a cheap
stand-in for resemblyzer that counts its calls."""
# s: samples, k: d-vector channels

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from flowvox.audio.dvector import DVECTOR_DIM
from flowvox.data import dvectors as dvector_cache
from flowvox.data import prepare_dataset
from flowvox.infer import reference as reference_module

SAMPLE_RATE = 24000
# (text, speaker, split): speaker "a" has three training utterances, "b" two, "solo" one
UTTERANCES = [
    ("a cat sat.", "a", "train"),
    ("dogs run far", "a", "train"),
    ("we sing", "a", "train"),
    ("zebra quiz", "b", "train"),
    ("hello there", "b", "train"),
    ("ok go", "solo", "train"),
    ("held out", "a", "test"),
]
PITCH = {"a": 180.0, "b": 320.0, "solo": 250.0}
STAND_IN = "counting stand-in"  # the encoder name of CountingEmbed's cache rows


def speaker_wav(speaker: str, i: int) -> np.ndarray:
    """0.5 + 0.05 i s of a speaker's tone (its own pitch) with a little noise, at 24 kHz."""
    rng = np.random.default_rng(i)
    s = int(SAMPLE_RATE * (0.5 + 0.05 * i))
    tone = np.sin(2 * np.pi * PITCH[speaker] * np.arange(s) / SAMPLE_RATE)
    return (0.3 * tone + 0.03 * rng.standard_normal(s)).astype(np.float32)


def speakers_prepared(root: Path) -> Path:
    """``root/prepared``: UTTERANCES written as wavs under ``root/corpus`` and prepared."""
    manifest = root / "manifest.jsonl"
    (root / "corpus").mkdir(parents=True)
    with manifest.open("w") as fh:
        for i, (text, speaker, split) in enumerate(UTTERANCES):
            path = root / "corpus" / f"u{i}.wav"
            sf.write(path, speaker_wav(speaker, i), SAMPLE_RATE)
            line = {"audio": str(path), "text": text, "speaker": speaker, "split": split}
            fh.write(json.dumps(line) + "\n")
    out = root / "prepared"
    prepare_dataset(manifest, out, workers=1, progress=False)
    return out


class CountingEmbed:
    """(wav (s,), sample_rate) -> a unit (k,) vector of the magnitude spectrum of its first
    510 samples: another clip, another vector. ``calls`` counts the clips embedded."""

    def __init__(self, device: str = "cpu") -> None:
        self.calls = 0

    def __call__(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        self.calls += 1
        spectrum = np.abs(np.fft.rfft(np.asarray(wav, np.float64), n=2 * DVECTOR_DIM - 2))
        return (spectrum / np.linalg.norm(spectrum)).astype(np.float32)  # (k,)


def counting_encoders(monkeypatch) -> CountingEmbed:
    """One ``CountingEmbed`` standing in for every resemblyzer encoder the d-vector cache and
    the Synthesizer's references build: its ``calls`` count them all. The cache records it
    under its own name, so resemblyzer computes its rows again."""
    tally = CountingEmbed()

    def make(device: str = "cpu") -> CountingEmbed:
        return tally

    monkeypatch.setattr(dvector_cache, "DVectorEncoder", make)
    monkeypatch.setattr(dvector_cache, "dvector_encoder_name", lambda: STAND_IN)
    monkeypatch.setattr(reference_module, "DVectorEncoder", make)
    return tally


class SpeakersCorpus:
    """UTTERANCES as a test module's ``CORPUS`` (the ``prepared`` fixture of conftest.py)."""

    def prepare(self, root: Path) -> Path:
        return speakers_prepared(root)


def randomize(model, seed: int = 0, scale: float = 0.2):
    """Every weight N(0, scale²) (the zero-initialised output layers too), eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return model.eval()
