"""Render a clip's events to a mono waveform: sox synthesises, numpy places and mixes.

Waveforms here are float32 numpy arrays of shape (n,), samples in [-1, 1].

Each event becomes exactly ``round(end * sr) - round(start * sr)`` samples: tones, plucks,
sweeps and noise from ``sox -R`` (repeatable: the same command gives the same samples;
noise is varied by starting ``noise_offset_s`` into a longer stretch), speech from the
corpus engines (trimmed, resampled, then time-stretched with sox ``tempo``, which keeps the
pitch, to fill its slot exactly). Each event is scaled to ``EVENT_RMS_DBFS + gain_db`` RMS
over its sounding samples, added into a silent clip of ``round(seconds * sr)`` samples at
its start sample, and the clip is loudness-normalised. Outside the events the clip is
digital silence.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from flowvox.audio.io import load_audio, loudness_normalize, resample, trim_silence
from flowvox.data.corpus.engines import synthesize_raw
from flowvox.data.corpus.voices import resolve_voice
from flowvox.data.sounds.attributes import Event
from flowvox.errors import FlowvoxError

SAMPLE_RATE = 16000
EVENT_RMS_DBFS = -20.0
SOX_TIMEOUT_S = 60.0
PLUCK_RATE = 48000
SOX_WAVES = {"sine": "sine", "square": "square", "saw": "sawtooth"}
EDGE_S = 0.01  # fade at each edge of a steady sound or burst, so no click marks an onset


def check_sox() -> None:
    """``FlowvoxError`` naming the Debian package when ``sox`` is not on PATH."""
    if shutil.which("sox") is None:
        raise FlowvoxError("sox not found on PATH: apt-get install sox")


def render_clip(
    events: list[Event], seconds: float, sample_rate: int = SAMPLE_RATE, target_lufs: float = -23.0
) -> np.ndarray:
    """The clip, (round(seconds * sample_rate),) float32; ``FlowvoxError`` if a tool fails."""
    clip = np.zeros(round(seconds * sample_rate), dtype=np.float64)  # (n,)
    for event in events:
        first = round(event.start * sample_rate)
        wav = render_event(event, sample_rate)  # (m,)
        assert first + len(wav) <= len(clip), f"{event} ends after the clip"
        clip[first : first + len(wav)] += _at_level(wav, EVENT_RMS_DBFS + event.gain_db)
    return loudness_normalize(clip.astype(np.float32), sample_rate, target_lufs)


def event_samples(event: Event, sample_rate: int) -> int:
    return round(event.end * sample_rate) - round(event.start * sample_rate)


def render_event(event: Event, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One event alone, (event_samples(event, sample_rate),) float32 at sox's own level."""
    n = event_samples(event, sample_rate)
    if event.kind == "speech":
        return _speech(event, n, sample_rate)
    if event.kind == "noise":
        offset = round(event.noise_offset_s * sample_rate)
        source = [f"{n + offset}s", f"{event.colour}noise"]
        effects = ["trim", f"{offset}s", *_envelope(event.envelope, n, sample_rate)]
        return _sox(source, effects, n, sample_rate)
    if event.kind == "sweep":
        sweep = f"{event.pitch_hz:g}/{event.pitch_end_hz:g}"  # '/': exponential sweep
        effects = _envelope("steady", n, sample_rate)
        return _sox([f"{n}s", SOX_WAVES[event.wave], sweep], effects, n, sample_rate)
    if event.kind == "pluck":  # sox plucks only at 44.1-48 kHz: synthesise at 48k, resample
        m = round(n * PLUCK_RATE / sample_rate)
        effects = ["fade", "h", "0.005", f"{m}s", "0.1"]
        synth = [f"{m}s", "pluck", f"{event.pitch_hz:g}"]
        return _sox(synth, effects, n, sample_rate, synth_rate=PLUCK_RATE)
    wave = [SOX_WAVES[event.wave], f"{event.pitch_hz:g}"]
    if event.envelope in ("beeps", "pulses"):
        return _bursts(event, wave, n, sample_rate)
    return _sox([f"{n}s", *wave], _envelope(event.envelope, n, sample_rate), n, sample_rate)


def _bursts(event: Event, wave: list[str], n: int, sample_rate: int) -> np.ndarray:
    """``count`` equal bursts, the first at sample 0, the last ending at sample n."""
    width = round(event.burst_s * sample_rate)
    burst = _sox([f"{width}s", *wave], _envelope("steady", width, sample_rate), width, sample_rate)
    out = np.zeros(n, dtype=np.float32)
    for j in range(event.count):
        first = 0 if event.count == 1 else round(j * (n - width) / (event.count - 1))
        out[first : first + width] = burst
    return out


def _envelope(envelope: str, n: int, sample_rate: int) -> list[str]:
    """sox ``fade`` arguments (half-sine shape) for an ``n``-sample sound."""
    edge = f"{min(round(EDGE_S * sample_rate), n // 4)}s"
    if envelope == "fade_in":
        return ["fade", "h", f"{n}s", f"{n}s", "0"]  # fade-out length defaults to fade-in's
    if envelope == "fade_out":
        return ["fade", "h", edge, f"{n}s", f"{n - round(EDGE_S * sample_rate)}s"]
    return ["fade", "h", edge, f"{n}s", edge]


def _sox(
    synth: list[str], effects: list[str], n: int, sample_rate: int, synth_rate: int | None = None
) -> np.ndarray:
    """``sox -R -n ... synth SYNTH EFFECTS`` as float32, padded or cut to ``n`` samples.

    sox synthesises at ``synth_rate`` (default ``sample_rate``; "Ns" in SYNTH counts samples
    at that rate) and resamples to ``sample_rate`` when they differ.
    """
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(sample_rate)]
    rate = str(synth_rate or sample_rate)
    out = run_sox(["-R", "-r", rate, "-n", *raw, "-", "synth", *synth, *effects])
    return _fit(np.frombuffer(out, dtype="<f4"), n)


def run_sox(args: list[str], stdin: bytes | None = None) -> bytes:
    """Run ``sox ARGS``; its stdout, or ``FlowvoxError`` with sox's last error line."""
    done = subprocess.run(
        ["sox", *args], input=stdin, capture_output=True, timeout=SOX_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
        raise FlowvoxError(f"sox {' '.join(args)} failed: {lines[-1]}")
    return done.stdout


def _speech(event: Event, n: int, sample_rate: int) -> np.ndarray:
    """The voice saying ``event.text``, trimmed and time-stretched (pitch kept) to ``n``."""
    with tempfile.TemporaryDirectory(prefix="flowvox-sounds-") as folder:
        [raw] = synthesize_raw(resolve_voice(event.voice), [event.text], Path(folder))
        if raw is None:
            raise FlowvoxError(f"{event.voice} wrote no audio for {event.text!r}")
        clip = load_audio(raw)
    wav = resample(trim_silence(clip.wav, clip.sample_rate), clip.sample_rate, sample_rate)
    factor = len(wav) / n  # > 1: speed up
    if abs(factor - 1.0) > 0.005:
        raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(sample_rate)]
        stretched = run_sox(
            [*raw, "-", *raw, "-", "tempo", "-s", f"{factor:.4f}"], wav.astype("<f4").tobytes()
        )
        wav = np.frombuffer(stretched, dtype="<f4")
    wav = _fit(wav, n).copy()
    edge = min(round(EDGE_S * sample_rate), n // 4)
    wav[n - edge :] *= np.linspace(1.0, 0.0, edge, dtype=np.float32)  # no click if cut
    return wav


def _fit(wav: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to ``n`` samples."""
    wav = np.asarray(wav, dtype=np.float32)[:n]
    return np.pad(wav, (0, n - len(wav))) if len(wav) < n else wav


def _at_level(wav: np.ndarray, rms_dbfs: float) -> np.ndarray:
    """Scale so the RMS over the sounding (non-zero) samples is ``rms_dbfs``."""
    sounding = wav[np.abs(wav) > 1e-6].astype(np.float64)
    if len(sounding) == 0:
        return wav.astype(np.float64)
    rms = float(np.sqrt(np.mean(sounding**2)))
    return wav.astype(np.float64) * (10.0 ** (rms_dbfs / 20.0) / rms)
