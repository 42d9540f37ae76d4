"""The FastPitch model (family "fastpitch") behind the Synthesizer.

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

import torch

from flowvox.infer.backends.base import Backend, Capabilities
from flowvox.infer.duration import MIN_CHUNK_BYTES, MIN_GEN_FRAMES, utf8_len
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.reference import Reference
from flowvox.infer.sampling import ChunkJob, SampleResult
from flowvox.models.fastpitch.model import FastPitch
from flowvox.nn.masks import pad_ids

NOMINAL_BYTES_PER_SECOND = 15.0  # read English speech, UTF-8 bytes per second


class FastPitchBackend(Backend):
    """No voice prompt, no ODE, predicted durations, a pitch shift."""

    model_class = FastPitch
    label = "the FastPitch model"
    capabilities = Capabilities(
        voice_prompt=False, explicit_duration=False, pitch_shift=True, ode=False, epss=False
    )
    int8_keep_fp32 = ("encoder", "duration_predictor")

    def chunk_budget(self, ref: Reference, opts: SynthesisOptions) -> int:
        """⌊NOMINAL_BYTES_PER_SECOND · chunk_seconds · speed⌋ bytes (at least
        ``MIN_CHUNK_BYTES``)."""
        budget = int(NOMINAL_BYTES_PER_SECOND * opts.chunk_seconds * opts.speed)
        return max(MIN_CHUNK_BYTES, budget)

    def estimate_frames(
        self,
        ref: Reference,
        chunk: str,
        gen_frames: int | None,
        opts: SynthesisOptions,
        frame_rate: float,
    ) -> int:
        """⌈utf8_len / NOMINAL_BYTES_PER_SECOND · frame_rate / speed⌉ (at least
        ``MIN_GEN_FRAMES``); the model's durations decide the real count."""
        seconds = utf8_len(chunk) / NOMINAL_BYTES_PER_SECOND / opts.speed
        return max(MIN_GEN_FRAMES, math.ceil(seconds * frame_rate))

    def sample(self, jobs: list[ChunkJob], ref: Reference, opts: SynthesisOptions) -> SampleResult:
        return sample_fastpitch(self.model, jobs, opts)


@torch.inference_mode()
def sample_fastpitch(
    model: FastPitch, jobs: Sequence[ChunkJob], opts: SynthesisOptions
) -> SampleResult:
    """Mel (L_i, f) per job from one padded forward pass; see the module doc. nfe = 1."""
    device = next(model.parameters()).device
    ids, lengths = pad_ids([job.text_ids for job in jobs])  # (b, l), (b,)
    out = model.synthesize(
        ids.to(device), lengths.to(device), speed=opts.speed, pitch_shift=opts.pitch_shift
    )
    totals = out.durations.sum(1).tolist()  # (b,) L_i
    return SampleResult(mels=[out.mel[i, : int(t)] for i, t in enumerate(totals)], nfe=1)
