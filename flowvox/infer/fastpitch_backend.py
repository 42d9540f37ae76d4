"""The FastPitch model (task ``fastpitch``) behind the Synthesizer.

# b: batch (chunks), l: text tokens, n: frames, f: mel bins
FastPitch is non-generative and single-speaker: no voice prompt, no noise, no ODE. Row i:
ids = the chunk's tokens (no reference transcript in front). ``FastPitch.synthesize``
predicts per-token durations d_ij = max(1, ⌈exp(log d̂_ij) / speed⌉) and pitch, shifted by
``pitch_shift`` semitones (p += shift · ln 2 / (12 · pitch_std) in normalised log F0), and
decodes the mel; out[i, :L_i] with L_i = Σ_j d_ij is returned. Padding is masked in every
layer, so a chunk gets the same mel alone or batched (to float tolerance). NFE, CFG, sway,
solver and seed do not apply and are ignored.

With no reference to measure a speaking rate, chunks hold the text ``NOMINAL_BYTES_PER_SECOND``
(read English) fits into ``chunk_seconds`` at ``speed``, and the frames of a chunk are
estimated the same way (``estimate_frames``, for batch packing); the model's own durations
decide the audio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError
from flowvox.infer.duration import MIN_CHUNK_BYTES, MIN_GEN_FRAMES, utf8_len
from flowvox.infer.model_dir import is_task_dir
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.reference import Reference
from flowvox.infer.sampling import ChunkJob, SampleResult
from flowvox.models.fastpitch import FastPitch

FASTPITCH_TASK = "fastpitch"
FASTPITCH_ONLY_FIELDS = ("pitch_std", "dec_ffn_dim")  # config.json without "task"
NOMINAL_BYTES_PER_SECOND = 15.0  # read English speech, UTF-8 bytes per second
NO_PROMPT_SOURCE = "<none: FastPitch takes no voice prompt>"


def is_fastpitch_dir(folder: Path) -> bool:
    """True when ``folder/config.json`` is a FastPitch model (task fastpitch, or the
    FastPitchConfig fields directly)."""
    return is_task_dir(folder, FASTPITCH_TASK, FASTPITCH_ONLY_FIELDS)


def no_prompt_reference(mel: MelConfig, ref_audio: object, ref_text: str | None) -> Reference:
    """The empty "reference" of a FastPitch model (text "", no frames); a voice prompt or
    its transcript is refused with one line."""
    if ref_audio is not None or ref_text is not None:
        name = "ref_audio" if ref_audio is not None else "ref_text"
        raise FlowvoxError(
            f"{name}: a FastPitch model is single-speaker and takes no voice prompt; drop "
            "ref_audio/ref_text (--ref-audio/--ref-text) or use an infilling or aligned model"
        )
    empty = torch.zeros(0, mel.n_mels)  # (0, f)
    return Reference(
        np.zeros(0, np.float32), mel.sample_rate, empty, "", False, False, NO_PROMPT_SOURCE
    )


def check_fastpitch_options(opts: SynthesisOptions) -> None:
    """Refuse the options FastPitch cannot honour (one line, naming the option)."""
    if opts.duration is not None:
        raise FlowvoxError(
            "duration: the FastPitch model predicts its own durations; drop duration "
            "(use speed to pace it)"
        )


def check_pitch_shift(opts: SynthesisOptions) -> None:
    """For the other families: ``pitch_shift`` is a FastPitch option (one-line refusal)."""
    if opts.pitch_shift != 0.0:
        raise FlowvoxError(
            f"pitch_shift={opts.pitch_shift}: only FastPitch models take a pitch shift; drop "
            "pitch_shift (--pitch-shift) for this model"
        )


def fastpitch_budget(opts: SynthesisOptions) -> int:
    """UTF-8 bytes per chunk: ⌊NOMINAL_BYTES_PER_SECOND · chunk_seconds · speed⌋ (at least
    ``MIN_CHUNK_BYTES``)."""
    return max(MIN_CHUNK_BYTES, int(NOMINAL_BYTES_PER_SECOND * opts.chunk_seconds * opts.speed))


def estimate_frames(chunk: str, frame_rate: float, speed: float) -> int:
    """Frames a chunk will likely get: ⌈utf8_len / NOMINAL_BYTES_PER_SECOND · frame_rate /
    speed⌉ (at least ``MIN_GEN_FRAMES``); the model's durations decide the real count."""
    seconds = utf8_len(chunk) / NOMINAL_BYTES_PER_SECOND / speed
    return max(MIN_GEN_FRAMES, math.ceil(seconds * frame_rate))


@torch.inference_mode()
def sample_fastpitch(
    model: FastPitch, jobs: Sequence[ChunkJob], opts: SynthesisOptions
) -> SampleResult:
    """Mel (L_i, f) per job from one padded forward pass; see the module doc. nfe = 1."""
    from flowvox.models.aligned_task import pad_ids

    check_fastpitch_options(opts)
    device = next(model.parameters()).device
    ids, lengths = pad_ids([job.text_ids for job in jobs])  # (b, l), (b,)
    out = model.synthesize(
        ids.to(device), lengths.to(device), speed=opts.speed, pitch_shift=opts.pitch_shift
    )
    totals = out.durations.sum(1).tolist()  # (b,) L_i
    return SampleResult(mels=[out.mel[i, : int(t)] for i, t in enumerate(totals)], nfe=1)
