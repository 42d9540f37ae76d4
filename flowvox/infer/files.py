"""File-level entry points behind ``flowvox speak`` and ``flowvox generate``.

Each checks its inputs and output location first (cheap, before a model is loaded), then
loads the ``Synthesizer`` and writes its output atomically: a failed or interrupted run
leaves no partial file under the output name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flowvox.audio.io import check_finite, save_audio
from flowvox.errors import FlowvoxError
from flowvox.infer.bulk import BulkReport, generate_bulk
from flowvox.infer.bulk_source import read_bulk_source
from flowvox.infer.synthesizer import Synthesizer
from flowvox.utils.atomic import atomic_path
from flowvox.utils.distributed import Launch

AUDIO_SUFFIXES = {".wav": "PCM_16", ".flac": "PCM_16", ".ogg": "VORBIS"}


@dataclass
class SpokenFile:
    """What ``speak_to_file`` wrote."""

    path: Path
    sample_rate: int
    audio_seconds: float
    compute_seconds: float  # model loading excluded

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per audio second (lower is faster)."""
        return self.compute_seconds / max(self.audio_seconds, 1e-9)

    def summary(self) -> str:
        return (
            f"wrote {self.path} ({self.audio_seconds:.2f} s at {self.sample_rate} Hz) in "
            f"{self.compute_seconds:.2f} s, RTF {self.real_time_factor:.3f}"
        )


def check_output_file(path: str | os.PathLike) -> Path:
    """Refuse an output whose folder is missing, which is a folder, or has no audio suffix."""
    path = Path(path)
    if path.is_dir():
        raise FlowvoxError(f"{path}: is a folder; give a file name such as {path / 'out.wav'}")
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        known = ", ".join(AUDIO_SUFFIXES)
        raise FlowvoxError(f"{path}: unsupported output format; end the name with {known}")
    if not path.parent.is_dir():
        raise FlowvoxError(f"{path.parent}: no such folder for the output; create it first")
    if not os.access(path.parent, os.W_OK):
        raise FlowvoxError(f"{path.parent}: cannot write here; choose another output folder")
    return path


def check_text(text: str, where: str = "TEXT") -> str:
    """The text stripped; ``FlowvoxError`` when nothing is left."""
    text = text.strip()
    if not text:
        raise FlowvoxError(f"{where} is empty; give the words to speak (or '-' to read stdin)")
    return text


def check_reference_flags(ref_audio: Any, ref_text: Any, voice: str | None) -> None:
    """--ref-text needs --ref-audio; --voice excludes both."""
    if voice is not None and (ref_audio is not None or ref_text is not None):
        raise FlowvoxError("--voice picks a prompt of the model; drop --ref-audio/--ref-text")
    if ref_text is not None and ref_audio is None:
        raise FlowvoxError("--ref-text needs --ref-audio (the clip it transcribes)")


def speak_to_file(
    text: str,
    out_path: str | os.PathLike,
    model: str | os.PathLike | None = None,
    vocoder: str | os.PathLike | None = None,
    device: str = "cpu",
    ref_audio: str | os.PathLike | None = None,
    ref_text: str | None = None,
    options: Any = None,
    stream: bool = False,
    voice: str | None = None,
    backend: str = "torch",
) -> SpokenFile:
    """``flowvox speak``: synthesize ``text`` into ``out_path`` (.wav, .flac or .ogg).

    ``options``: ``SynthesisOptions``, or a dict of fields over the model's sampling
    defaults (``Synthesizer.default_options``), or None for those defaults.

    With ``stream`` the audio is written chunk by chunk as ``Synthesizer.stream`` yields it
    (into a temporary file that is renamed when the last chunk is in). ``backend``: "torch"
    or "onnx" (``Synthesizer.from_pretrained``).
    """
    out = check_output_file(out_path)
    text = check_text(text)
    check_reference_flags(ref_audio, ref_text, voice)

    synth = Synthesizer.from_pretrained(model, vocoder=vocoder, device=device, backend=backend)
    options = model_options(synth, options)
    if voice is not None:
        ref_audio, ref_text = synth.voice_prompt(voice)
    start = time.perf_counter()
    if stream:
        sample_rate, samples = _stream_to(out, synth, text, ref_audio, ref_text, options)
    else:
        wav, sample_rate = synth.speak(text, ref_audio, ref_text, options)
        save_audio(out, wav, sample_rate, AUDIO_SUFFIXES[out.suffix.lower()])
        samples = len(wav)
    elapsed = time.perf_counter() - start
    return SpokenFile(out, sample_rate, samples / sample_rate, elapsed)


def model_options(synth: Any, options: Any) -> Any:
    """``options`` as ``SynthesisOptions``: a dict of fields goes over ``synth``'s defaults."""
    return synth.default_options(**options) if isinstance(options, Mapping) else options


def _stream_to(
    out: Path, synth: Any, text: str, ref_audio: Any, ref_text: Any, options: Any
) -> tuple[int, int]:
    """Write the chunks of ``synth.stream`` as they come; (sample rate, samples written)."""
    import soundfile as sf

    sample_rate = int(synth.sample_rate)
    written = 0
    with atomic_path(out) as tmp:
        with sf.SoundFile(
            str(tmp), "w", samplerate=sample_rate, channels=1,
            subtype=AUDIO_SUFFIXES[out.suffix.lower()],
        ) as sink:  # fmt: skip
            for chunk in synth.stream(text, ref_audio, ref_text, options):
                check_finite(chunk, str(out))
                sink.write(np.clip(np.asarray(chunk, dtype=np.float32), -1.0, 1.0))
                sink.flush()
                written += len(chunk)
        if written == 0:
            raise FlowvoxError(f"{out}: the synthesizer produced no audio for this text")
    return sample_rate, written


def generate_to_folder(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    model: str | os.PathLike | None = None,
    vocoder: str | os.PathLike | None = None,
    device: str = "cpu",
    ref_audio: str | os.PathLike | None = None,
    ref_text: str | None = None,
    options: Any = None,
    batch_frames: int | None = None,
    progress: bool = True,
    voice: str | None = None,
    launch: Launch | None = None,
) -> BulkReport:
    """``flowvox generate``: check source and OUT_DIR, load the model, run ``generate_bulk``.

    ``ref_audio``/``ref_text`` are the reference for every item that names none;
    ``options`` as in ``speak_to_file``; ``launch`` as in ``generate_bulk``.
    """
    read_bulk_source(source)  # a bad source fails before the model loads
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"{out}: exists and is not a folder; choose another OUT_DIR")
    if not out.parent.is_dir():
        raise FlowvoxError(f"{out.parent}: no such folder for OUT_DIR; create it first")
    if batch_frames is not None and batch_frames < 1:
        raise FlowvoxError(f"--batch-frames must be at least 1, got {batch_frames}")
    check_reference_flags(ref_audio, ref_text, voice)

    synth = Synthesizer.from_pretrained(model, vocoder=vocoder, device=device)
    options = model_options(synth, options)
    if voice is not None:
        ref_audio, ref_text = synth.voice_prompt(voice)
    return generate_bulk(
        synth, source, out, options, batch_frames, progress,
        ref_audio=ref_audio, ref_text=ref_text, launch=launch,
    )  # fmt: skip
