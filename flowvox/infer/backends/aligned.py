"""The aligned TTS family (``AlignedTTS``, family "aligned") behind the Synthesizer.

# b: batch (chunks), l: text tokens, n: frames, p: prompt frames, f: mel bins
Row i: ids = reference transcript tokens (k of them) + chunk tokens; the reference mel
(p frames) is the audio prompt. Durations: the prompt's k tokens get their MAS durations
on the prompt, the rest the predicted ones / speed, so row i has L_i = sum_j d_ij frames.
They are computed first (one text encoding) so that each row's noise x_0 (L_i, f) is drawn
from its own ``torch.Generator().manual_seed(seed_i)`` (``initial_noise``): a chunk gets the
same result alone or batched. ``AlignedTTS.synthesize`` then solves all rows with those
durations and noise; out[i, p:L_i] is returned (the prompt frames are dropped).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from flowvox.infer.backends.base import Backend, Capabilities
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.reference import Reference
from flowvox.infer.sampling import ChunkJob, SampleResult, initial_noise
from flowvox.infer.text import token_ids
from flowvox.models.aligned.model import AlignedTTS
from flowvox.nn.duration import durations_from_log
from flowvox.nn.masks import pad_ids


class AlignedBackend(Backend):
    """Voice prompt by audio prompting, predicted durations, no EPSS grid."""

    model_class = AlignedTTS
    label = "the aligned TTS model"
    capabilities = Capabilities(
        voice_prompt=True, explicit_duration=False, pitch_shift=False, ode=True, epss=False
    )

    def sample(self, jobs: list[ChunkJob], ref: Reference, opts: SynthesisOptions) -> SampleResult:
        prompt_tokens = len(token_ids(ref.text, "", self.tokenizer))
        return sample_aligned(self.model, jobs, prompt_tokens, opts)


@torch.inference_mode()
def sample_aligned(
    model: AlignedTTS, jobs: Sequence[ChunkJob], prompt_tokens: int, opts: SynthesisOptions
) -> SampleResult:
    """Generated log-mel (g_i, f) per job; every job's ids start with ``prompt_tokens``
    tokens of its reference transcript. See the module doc."""
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
    enc = model.encode(ids, lengths)
    log_dur = model.duration_predictor(enc.hidden, enc.mask)
    durations = durations_from_log(log_dur, enc.mask, opts.speed)  # (b, l)
    prompt = model._prompt(enc, lengths, prompt_mel, frames, tokens)  # MAS on the prompt
    durations = torch.where(prompt > 0, prompt, durations).long().masked_fill(~enc.mask, 0)
    totals = durations.sum(1).tolist()  # (b,) L_i
    sized = [dataclasses.replace(j, total_frames=int(t)) for j, t in zip(jobs, totals, strict=True)]
    x_0 = initial_noise(sized, int(max(totals)), f, dtype).to(device)  # (b, n, f)
    out = model.synthesize(
        ids,
        lengths,
        prompt_mel,
        frames,
        tokens,
        durations=durations,
        nfe=opts.nfe,
        cfg=opts.cfg,
        solver=opts.solver,
        sway=opts.sway,
        noise=x_0,
    )
    mels = [out.mel[i, job.ref_mel.shape[0] : job.total_frames] for i, job in enumerate(sized)]
    return SampleResult(mels=mels, nfe=out.nfe)
