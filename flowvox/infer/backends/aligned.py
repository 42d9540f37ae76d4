"""The aligned TTS family (``AlignedTTS``, family "aligned") behind the Synthesizer.

# b: batch (chunks), l: text tokens, n: frames, p: prompt frames, f: mel bins
Row i: ids = reference transcript tokens (k of them) + chunk tokens; the reference mel
(p frames) is the audio prompt. Durations: the prompt's k tokens get their MAS durations
on the prompt, the rest the predicted ones / speed, so row i has L_i = sum_j d_ij frames.
They are computed first (one text encoding) so that each row's noise x_0 (L_i, f) is drawn
from its own ``torch.Generator().manual_seed(seed_i)`` (``initial_noise``): a chunk gets the
same result alone or batched (``plan_aligned``). ``AlignedTTS.synthesize`` then solves all
rows with those durations and noise (the ONNX backend, ``flowvox.infer.onnx.backend``, solves the
same plan through onnxruntime); out[i, p:L_i] is returned (the prompt frames are dropped).
A model with ``cond_dim`` > 0 gets the reference's d-vector on every row (``spk`` (b, k)), in
the text encoding and in the ODE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.infer.backends.base import Backend, Capabilities
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.reference import Reference, speaker_rows
from flowvox.infer.sampling import ChunkJob, SampleResult, initial_noise
from flowvox.infer.text import token_ids
from flowvox.models.aligned.model import AlignedTTS, EncodedText
from flowvox.nn.duration import durations_from_log
from flowvox.nn.masks import pad_ids


class AlignedBackend(Backend):
    """Voice prompt by audio prompting, predicted durations, no EPSS grid."""

    model_class = AlignedTTS
    label = "the aligned TTS model"
    capabilities = Capabilities(
        voice_prompt=True, explicit_duration=False, pitch_shift=False, ode=True, epss=False
    )
    int8_keep_fp32 = ("encoder", "duration_predictor")

    def sample(self, jobs: list[ChunkJob], ref: Reference, opts: SynthesisOptions) -> SampleResult:
        prompt_tokens = len(token_ids(ref.text, "", self.tokenizer))
        spk = speaker_rows(ref, self.model, len(jobs))  # (b, k), None without cond_dim
        return sample_aligned(self.model, jobs, prompt_tokens, opts, spk)


@dataclass(frozen=True)
class AlignedPlan:
    """A batch ready for the ODE (everything ``AlignedTTS.synthesize`` takes besides the
    sampling options): ids (b, l0) with lengths (b,); prompt_mel (b, p, f) holding frames (b,)
    real frames, whose transcript is the first tokens (b,) of the ids; enc the text encoding;
    durations (b, l) frames per model token (blanks included); noise x_0 (b, n, f); jobs with
    their total_frames L_i = sum_j d_ij; spk (b, k) the speaker d-vectors, or None."""

    ids: Tensor
    lengths: Tensor
    prompt_mel: Tensor
    frames: Tensor
    tokens: Tensor
    enc: EncodedText
    durations: Tensor
    noise: Tensor
    jobs: list[ChunkJob]
    spk: Tensor | None = None

    def generated(self, mel: Tensor) -> list[Tensor]:
        """Row i of ``mel`` (b, n, f) without its prompt frames and padding: (g_i, f)."""
        return [mel[i, job.ref_mel.shape[0] : job.total_frames] for i, job in enumerate(self.jobs)]


@torch.inference_mode()
def sample_aligned(
    model: AlignedTTS,
    jobs: Sequence[ChunkJob],
    prompt_tokens: int,
    opts: SynthesisOptions,
    spk: Tensor | None = None,
) -> SampleResult:
    """Generated log-mel (g_i, f) per job; every job's ids start with ``prompt_tokens``
    tokens of its reference transcript; ``spk`` (b, k) for a model with ``cond_dim`` > 0.
    See the module doc."""
    plan = plan_aligned(model, jobs, prompt_tokens, opts, spk)
    out = model.synthesize(
        plan.ids,
        plan.lengths,
        plan.prompt_mel,
        plan.frames,
        plan.tokens,
        durations=plan.durations,
        spk=plan.spk,
        nfe=opts.nfe,
        cfg=opts.cfg,
        solver=opts.solver,
        sway=opts.sway,
        noise=plan.noise,
    )
    return SampleResult(mels=plan.generated(out.mel), nfe=out.nfe)


def plan_aligned(
    model: AlignedTTS,
    jobs: Sequence[ChunkJob],
    prompt_tokens: int,
    opts: SynthesisOptions,
    spk: Tensor | None = None,
) -> AlignedPlan:
    """Text encoding, durations (the prompt's by MAS, the rest predicted / speed) and each
    row's noise from its own seed: what the ODE needs, whichever runtime solves it."""
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    b, f = len(jobs), model.config.mel_dim
    ids, lengths = pad_ids([job.text_ids for job in jobs])  # (b, l0), (b,)
    ids, lengths = ids.to(device), lengths.to(device)
    frames = torch.tensor([job.ref_mel.shape[0] for job in jobs], device=device)  # (b,)
    prompt_mel = torch.zeros(b, int(frames.max()), f, device=device, dtype=dtype)  # (b, p, f)
    for i, job in enumerate(jobs):
        prompt_mel[i, : job.ref_mel.shape[0]] = job.ref_mel.to(device=device, dtype=dtype)
    tokens = torch.full((b,), prompt_tokens, dtype=torch.long, device=device)
    enc = model.encode(ids, lengths, spk)
    log_dur = model.duration_predictor(enc.hidden, enc.mask)
    durations = durations_from_log(log_dur, enc.mask, opts.speed)  # (b, l)
    prompt = model._prompt(enc, lengths, prompt_mel, frames, tokens)  # MAS on the prompt
    durations = torch.where(prompt > 0, prompt, durations).long().masked_fill(~enc.mask, 0)
    totals = durations.sum(1).tolist()  # (b,) L_i
    if max(totals) > model.config.max_frames:
        raise FlowvoxError(
            f"the durations need {max(totals)} frames, over max_frames="
            f"{model.config.max_frames}: shorten the text, raise speed, or raise max_frames"
        )
    sized = [dataclasses.replace(j, total_frames=int(t)) for j, t in zip(jobs, totals, strict=True)]
    x_0 = initial_noise(sized, int(max(totals)), f, dtype).to(device)  # (b, n, f)
    return AlignedPlan(ids, lengths, prompt_mel, frames, tokens, enc, durations, x_0, sized, spk)
