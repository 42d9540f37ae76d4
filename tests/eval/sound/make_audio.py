"""Known audio for the sound judges: numpy tones, sox noise/plucks/sweeps, flite speech.

Every builder returns a 16 kHz float64 waveform (s,); ``Clip`` places parts in time and
carries the truth in the corpus manifest's flat attributes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16000
CLIP_SECONDS = 10.24


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def _read(path: Path) -> np.ndarray:
    wav, sr = sf.read(path, dtype="float64")
    assert sr == SR, sr
    return wav if wav.ndim == 1 else wav.mean(1)


def sox_synth(seconds: float, *effects: str) -> np.ndarray:
    """``sox -n -r 16000 out.wav synth SECONDS EFFECTS...`` -> (s,)."""
    need("sox")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        cmd = ["sox", "-R", "-n", "-r", str(SR), "-b", "16", str(out), "synth", str(seconds)]
        subprocess.run([*cmd, *effects], check=True, capture_output=True)
        return _read(out)


def flite(voice: str, text: str) -> np.ndarray:
    """flite speech (its voices speak at 16 kHz) -> (s,)."""
    need("flite")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True)
        return _read(out)


def tone(freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    """A sine with 5 ms raised-cosine edges."""
    t = np.arange(int(seconds * SR)) / SR
    wav = amp * np.sin(2 * np.pi * freq * t)
    ramp = int(0.005 * SR)
    edge = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
    wav[:ramp] *= edge
    wav[-ramp:] *= edge[::-1]
    return wav


def trim(wav: np.ndarray, below: float = 1e-4) -> np.ndarray:
    """Cut leading/trailing samples quieter than ``below`` (flite pads with silence)."""
    loud = np.flatnonzero(np.abs(wav) > below)
    return wav[loud[0] : loud[-1] + 1] if len(loud) else wav[:0]


@dataclass
class Clip:
    """Parts laid out in time; ``truth`` follows the manifest contract."""

    parts: list[tuple[float, np.ndarray, str]] = field(default_factory=list)  # start s, wav, kind
    truth: dict = field(default_factory=dict)

    def add(self, start: float, wav: np.ndarray, kind: str) -> Clip:
        self.parts.append((start, wav, kind))
        return self

    def after(self, gap: float, wav: np.ndarray, kind: str) -> Clip:
        end = max((s + len(w) / SR for s, w, _ in self.parts), default=0.0)
        return self.add(end + gap, wav, kind)

    def render(self, seconds: float = CLIP_SECONDS) -> np.ndarray:
        out = np.zeros(int(seconds * SR))
        for start, wav, _ in self.parts:
            a = int(round(start * SR))
            out[a : a + len(wav)] += wav[: len(out) - a]
        return out

    def contract(self, **extra) -> dict:
        """Truth from the parts: count, seconds and order (repeats in a row collapsed, as the
        corpus counts k beeps as one event of count k); the rest from ``extra``."""
        kinds = [k for _, _, k in sorted(self.parts, key=lambda p: p[0])]
        starts = [s for s, _, _ in self.parts]
        ends = [s + len(w) / SR for s, w, _ in self.parts]
        truth = {
            "count": len(self.parts),
            "seconds": (max(ends) - min(starts)) if self.parts else 0.0,
            "order": [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k],
            "pitch_hz": None,
            "noise_colour": None,
            "speech": False,
            "sex": None,
            "fade": None,
        }
        truth.update(extra)
        return truth


def beeps(k: int, freq: float, on: float = 0.25, gap: float = 0.3, start: float = 0.5) -> Clip:
    """k sine beeps of ``on`` seconds, ``gap`` apart."""
    clip = Clip().add(start, tone(freq, on), "tone")
    for _ in range(k - 1):
        clip.after(gap, tone(freq, on), "tone")
    clip.truth = clip.contract(pitch_hz=freq)
    return clip


def noise(colour: str, seconds: float = 4.0, start: float = 1.0, fade: str | None = None) -> Clip:
    """sox white/pink/brown noise, optionally fading in or out over its whole length."""
    effects = ["vol", "0.5"]
    if fade == "in":
        effects += ["fade", "t", str(seconds)]
    elif fade == "out":
        effects += ["fade", "t", "0", str(seconds), str(seconds)]
    clip = Clip().add(start, sox_synth(seconds, f"{colour}noise", *effects), "noise")
    clip.truth = clip.contract(noise_colour=colour, fade=fade)
    return clip


def plucks(k: int, freq: float, gap: float = 0.3) -> Clip:
    """k sox plucks of 1 s."""
    clip = Clip().add(0.5, sox_synth(1.0, "pluck", str(freq)), "pluck")
    for _ in range(k - 1):
        clip.after(gap, sox_synth(1.0, "pluck", str(freq)), "pluck")
    clip.truth = clip.contract(pitch_hz=freq)
    return clip


def sweep(f_start: float, f_end: float, seconds: float = 2.0) -> Clip:
    """A sox sine sweep (linear in frequency)."""
    clip = Clip().add(1.0, sox_synth(seconds, "sine", f"{f_start}-{f_end}", "vol", "0.5"), "sweep")
    clip.truth = clip.contract(pitch_hz=f_start)
    return clip


SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call me when you get home tonight.",
    "It was a bright cold day in April.",
)
VOICES = {"rms": "male", "slt": "female"}


def speech(voice: str, text: str, start: float = 1.0) -> Clip:
    """A flite sentence (leading/trailing silence cut)."""
    clip = Clip().add(start, trim(flite(voice, text)), "speech")
    clip.truth = clip.contract(speech=True, sex=VOICES[voice])
    return clip


def beeps_then_speech(k: int, freq: float, voice: str, text: str) -> Clip:
    """k beeps, 0.5 s of silence, a flite sentence."""
    clip = beeps(k, freq)
    clip.after(0.5, trim(flite(voice, text)), "speech")
    clip.truth = clip.contract(pitch_hz=freq, speech=True, sex=VOICES[voice])
    return clip


def over_noise(fg: Clip, colour: str, gain_db: float = -9.0, lead: float = 0.7) -> Clip:
    """``fg`` over sox ``colour`` noise ``gain_db`` below it (RMS over the sounding samples),
    starting ``lead`` s before the first part and ending 0.6 s after the last: a corpus
    mixture. Truth: count + 1, order noise first, the noise colour."""
    wav = fg.render()
    sounding = wav[np.abs(wav) > 1e-9]
    start = min(s for s, _, _ in fg.parts) - lead
    end = max(s + len(w) / SR for s, w, _ in fg.parts) + 0.6
    bed = sox_synth(round(end - start, 3), f"{colour}noise")
    bed *= np.sqrt(np.mean(sounding**2) / np.mean(bed**2)) * 10 ** (gain_db / 20)
    clip = Clip([(start, bed, "noise"), *fg.parts])
    clip.truth = {**fg.truth, "count": fg.truth["count"] + 1, "noise_colour": colour}
    clip.truth["order"] = ["noise", *fg.truth["order"]]
    clip.truth["seconds"] = end - start
    return clip
