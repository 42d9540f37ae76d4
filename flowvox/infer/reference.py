"""The voice prompt: load, condition and transcribe a reference clip.

Steps: load (any format libsndfile reads) and mix to mono, resample to the model's mel rate,
refuse silence, trim silent edges, loudness-normalise to -23 LUFS (as the corpus builder
does), cut a clip longer than ``max_seconds`` at the quietest frame of its last 4 s before
the limit, refuse what is left if under 0.5 s, compute the log-mel (and, for a model with
``cond_dim`` > 0, the clip's speaker d-vector: ``speaker_embedder``). Without a transcript the
clip is transcribed by the given recogniser (pocketsphinx by default) and one warning line
shows the transcript; a clip that had to be cut is transcribed again for the same reason
(the user's text would describe words that were cut away).
"""
# s: samples, n: mel frames, f: mel bins, b: batch (chunks), k: d-vector channels

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from flowvox.audio.asr import PocketsphinxASR
from flowvox.audio.dvector import DVectorEncoder
from flowvox.audio.io import (
    AudioClip,
    check_finite,
    is_silent,
    load_audio,
    loudness_normalize,
    resample,
    trim_silence,
)
from flowvox.errors import FlowvoxError
from flowvox.infer.duration import prepare_ref_text

LOG = logging.getLogger("flowvox.infer")
MIN_REF_SECONDS = 0.5
TARGET_LUFS = -23.0
SEARCH_SECONDS = 4.0  # how far before the limit a cut point is looked for
FRAME_SECONDS = 0.02  # energy frames for the cut search (hop: half a frame)

Transcribe = Callable[[np.ndarray, int], str]  # (wav (s,), sample_rate) -> words
EmbedSpeaker = Callable[[np.ndarray, int], np.ndarray]  # (wav (s,), sample_rate) -> (k,)
RefAudio = str | os.PathLike | AudioClip


@dataclass(frozen=True)
class Reference:
    """A conditioned voice prompt.

    wav: (s,) float32 at ``sample_rate`` (the model's mel rate). mel: (n, f) log-mel, CPU.
    text: the transcript as it is prepended to generated text (ends in ". ").
    transcribed: the text came from the recogniser. clipped: the clip was cut to the limit.
    source: the path, or "<array>". dvector: (k,) float32 speaker d-vector of ``wav``, for
    models with ``cond_dim`` > 0 (None otherwise).
    """

    wav: np.ndarray
    sample_rate: int
    mel: Tensor
    text: str
    transcribed: bool
    clipped: bool
    source: str
    dvector: Tensor | None = None

    @property
    def frames(self) -> int:
        """Mel frames of the reference."""
        return int(self.mel.shape[0])

    @property
    def seconds(self) -> float:
        """Length of the conditioned clip in seconds."""
        return len(self.wav) / self.sample_rate


def clip_at_silence(wav: np.ndarray, sample_rate: int, max_seconds: float) -> np.ndarray:
    """Cut ``wav`` (s,) to at most ``max_seconds``, at a quiet point.

    Looks at RMS energy in 20 ms frames (10 ms hop) over the last ``SEARCH_SECONDS`` before
    the limit and cuts at the centre of the quietest frame (the earliest among equals). A
    clip within the limit is returned unchanged.
    """
    limit = int(max_seconds * sample_rate)
    if len(wav) <= limit:
        return wav
    frame = max(2, int(FRAME_SECONDS * sample_rate))
    hop = frame // 2
    start = max(0, limit - int(SEARCH_SECONDS * sample_rate))
    window = wav[start:limit].astype(np.float64)  # (m,)
    if len(window) < frame:
        return wav[:limit]
    frames = np.lib.stride_tricks.sliding_window_view(window, frame)[::hop]  # (k, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))  # (k,)
    cut = start + int(np.argmin(rms)) * hop + frame // 2
    return wav[: max(cut, 1)]


def _load(source: RefAudio, sample_rate: int) -> tuple[np.ndarray, str]:
    """Mono float32 (s,) at ``sample_rate`` and a name for messages."""
    if isinstance(source, AudioClip):
        wav = np.asarray(source.wav, dtype=np.float32)
        if wav.ndim != 1:
            raise FlowvoxError(f"ref_audio array has shape {wav.shape}; give a mono (s,) clip")
        check_finite(wav, "ref_audio")
        return resample(wav, source.sample_rate, sample_rate), "<array>"
    if not isinstance(source, str | os.PathLike):
        raise FlowvoxError(
            f"ref_audio must be a file path or an AudioClip, got {type(source).__name__}"
        )
    clip = load_audio(source, sample_rate)  # FlowvoxError for missing / unreadable files
    return clip.wav, str(source)


def build_reference(
    source: RefAudio,
    ref_text: str | None,
    mel_fn: Callable[[Tensor], Tensor],
    sample_rate: int,
    transcribe: Transcribe,
    max_seconds: float = 12.0,
    embed_speaker: EmbedSpeaker | None = None,
) -> Reference:
    """Condition ``source`` into a :class:`Reference` (see the module doc).

    mel_fn: waveform (s,) -> log-mel (f, n) at ``sample_rate`` (a ``MelSpectrogram``).
    transcribe: recogniser used when ``ref_text`` is None or the clip was cut.
    embed_speaker: the d-vector function of a model with ``cond_dim`` > 0, run on the
    conditioned clip; None: no d-vector.
    Raises ``FlowvoxError`` for a missing, unreadable, silent or too short clip.
    """
    wav, name = _load(source, sample_rate)
    if len(wav) == 0 or is_silent(wav):
        raise FlowvoxError(
            f"ref_audio {name} is silent (peak below -60 dBFS); give a clip of clear speech"
        )
    wav = trim_silence(wav, sample_rate)
    wav = loudness_normalize(wav, sample_rate, TARGET_LUFS)
    clipped = clip_at_silence(wav, sample_rate, max_seconds)
    was_clipped = len(clipped) < len(wav)
    if len(clipped) < MIN_REF_SECONDS * sample_rate:
        raise FlowvoxError(
            f"ref_audio {name} holds {len(clipped) / sample_rate:.2f} s of sound after trimming "
            f"silence; give a clip of at least {MIN_REF_SECONDS} s of speech (3-12 s is best)"
        )
    text, transcribed = ref_text, False
    if ref_text is not None and not ref_text.strip():
        raise FlowvoxError("ref_text is empty; give the words of the reference, or leave it out")
    if ref_text is None or was_clipped:
        try:
            text = transcribe(clipped, sample_rate).strip()
        except FlowvoxError as err:
            if ref_text is None:
                raise
            raise FlowvoxError(
                f"ref_audio {name} is over {max_seconds:g} s, so it must be cut and its text "
                f"transcribed again, which failed ({err}); pass a clip under {max_seconds:g} s"
            ) from err
        transcribed = True
        if not text:
            raise FlowvoxError(
                f"ref_audio {name}: the recogniser heard no words; pass ref_text (--ref-text)"
            )
        why = (
            f"was cut to {len(clipped) / sample_rate:.1f} s (limit {max_seconds:g} s)"
            if was_clipped
            else "came without ref_text"
        )
        LOG.warning("reference %s %s; transcribed it as: %r", name, why, text)
    mel = mel_fn(torch.from_numpy(np.ascontiguousarray(clipped)))  # (f, n)
    dvector = None
    if embed_speaker is not None:
        dvector = torch.from_numpy(np.array(embed_speaker(clipped, sample_rate), np.float32))
    return Reference(
        wav=clipped,
        sample_rate=sample_rate,
        mel=mel.T.contiguous().float(),  # (n, f)
        text=prepare_ref_text(text),
        transcribed=transcribed,
        clipped=was_clipped,
        source=name,
        dvector=dvector,
    )


def reference_key(source: RefAudio, ref_text: str | None, max_seconds: float) -> tuple | None:
    """Cache key for a reference file (path, size, mtime, text, limit); None for arrays."""
    if isinstance(source, AudioClip) or not isinstance(source, str | os.PathLike):
        return None
    path = Path(source)
    try:
        stat = path.resolve().stat()
    except OSError:
        return None  # build_reference reports the missing file
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, ref_text, max_seconds)


def pocketsphinx_transcriber() -> Transcribe:
    """A recogniser backed by one ``PocketsphinxASR`` (the en-us model in its wheel)."""

    asr = PocketsphinxASR()
    return asr.transcribe


def speaker_embedder(model: torch.nn.Module) -> EmbedSpeaker | None:
    """The d-vector function of a model whose config has ``cond_dim`` > 0 (resemblyzer,
    loaded at its first call), else None: a model without it never imports resemblyzer."""
    config = getattr(model, "config", None)
    return DVectorEncoder() if getattr(config, "cond_dim", 0) > 0 else None


def speaker_rows(ref: Reference, model: torch.nn.Module, rows: int) -> Tensor | None:
    """The reference's d-vector repeated for ``rows`` batch rows, (b, k) on the model's
    device and dtype, for a model with ``cond_dim`` > 0; None for one without."""
    width = getattr(getattr(model, "config", None), "cond_dim", 0)
    if width == 0:
        return None
    if ref.dvector is None or ref.dvector.shape != (width,):
        have = "none" if ref.dvector is None else tuple(ref.dvector.shape)
        raise FlowvoxError(
            f"the model takes a ({width},) speaker d-vector and the reference {ref.source} "
            f"has {have}: condition it with Synthesizer.reference (or build_reference with "
            "embed_speaker=speaker_embedder(model))"
        )
    param = next(model.parameters())
    return ref.dvector.to(param.device, param.dtype).expand(rows, width)  # (b, k)
