"""The infilling TTS family (F5-TTS / E2-TTS, ``InfillTTS``) behind the Synthesizer.

# b: batch (chunks), n: frames (longest chunk), f: mel bins, c: text channels
One batched generation: many chunks, one padded ODE solve, one text encoding. Row i of the
batch is [reference mel (r_i frames) | frames to generate], L_i frames in all; rows are
padded to n = max L_i and a (b, n) mask marks the real frames (the model hides padding, so a
row's result does not depend on its batch). The audio prompt ``cond`` is the reference mel
followed by zeros. With guidance (cfg w > 0) each step evaluates [conditional rows;
unconditional rows] as one batch of 2b and applies v = v_c + w (v_c - v_u); the text
features of all 2b rows are computed once (``encode_text_cfg``) and reused at every step.
Each row's noise comes from its own seed (``initial_noise``). The generated part
out[i, r_i:L_i] is returned; the reference region is dropped (the prompt itself is not
re-synthesised). A model with ``cond_dim`` > 0 gets the reference's d-vector on every row
(``spk`` (b, k)), zeroed with the prompt on the unconditional rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor

from flowvox.flow import F5Guidance, solve
from flowvox.infer.backends.base import Backend, Capabilities
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.reference import Reference, speaker_rows
from flowvox.infer.sampling import ChunkJob, SampleResult, initial_noise, sampling_grid
from flowvox.models.infill.model import InfillTTS
from flowvox.nn.masks import lengths_to_mask, pad_token_ids

LOG = logging.getLogger("flowvox.infer")


class InfillBackend(Backend):
    """Voice prompt by infilling, F5's frame rule or an explicit duration, EPSS."""

    model_class = InfillTTS
    label = "the infilling TTS model"
    capabilities = Capabilities(
        voice_prompt=True, explicit_duration=True, pitch_shift=False, ode=True, epss=True
    )

    def plan_frames(self, ref: Reference, chunk: str, ids: list[int], total: int) -> int:
        """The model lines text up with frames and cuts what is left over: warn of it."""
        if len(ids) > total:
            LOG.warning(
                "%d text tokens do not fit in %d frames (reference + generated): the end of "
                "%r will be cut; give a longer duration or a lower speed",
                len(ids),
                total,
                chunk[:40],
            )
        return total

    def sample(self, jobs: list[ChunkJob], ref: Reference, opts: SynthesisOptions) -> SampleResult:
        spk = speaker_rows(ref, self.model, len(jobs))  # (b, k), None without cond_dim
        if spk is None:  # called as before speaker vectors (tests stand in for it so)
            return sample_chunks(self.model, jobs, opts)
        return sample_chunks(self.model, jobs, opts, spk)


@torch.inference_mode()
def sample_chunks(
    model: InfillTTS,
    jobs: Sequence[ChunkJob],
    options: SynthesisOptions,
    spk: Tensor | None = None,
) -> SampleResult:
    """Generate every job in one padded batch; see the module doc for the layout. ``spk``
    (b, k): the rows' speaker d-vectors, for a model with ``cond_dim`` > 0."""
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    b, f = len(jobs), model.config.mel_dim
    lengths = torch.tensor([job.total_frames for job in jobs], device=device)  # (b,)
    n = int(lengths.max())
    mask = None if bool((lengths == n).all()) else lengths_to_mask(lengths, n)  # (b, n)
    cond = torch.zeros(b, n, f, device=device, dtype=dtype)
    for i, job in enumerate(jobs):
        cond[i, : job.ref_mel.shape[0]] = job.ref_mel.to(device=device, dtype=dtype)
    ids = pad_token_ids([job.text_ids for job in jobs], device)  # (b, l)
    x_0 = initial_noise(jobs, n, f, dtype).to(device)  # (b, n, f)
    guidance = F5Guidance(options.cfg)

    if guidance.is_off:
        cache = model.encode_text(ids, n, mask)  # (b, n, c) once per generation

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            return model(x, cond, cache, t, mask, spk=spk)

    else:
        cache = model.encode_text_cfg(ids, n, mask)  # (2b, n, c) once per generation
        cond_2 = torch.cat([cond, cond])  # (2b, n, f)
        mask_2 = None if mask is None else torch.cat([mask, mask])  # (2b, n)
        drop_audio = torch.arange(2 * b, device=device) >= b  # (2b,) uncond rows last
        spk_2 = None if spk is None else torch.cat([spk, spk])  # (2b, k), zeroed when dropped

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            x_2, t_2 = torch.cat([x, x]), torch.cat([t, t])
            v = model(x_2, cond_2, cache, t_2, mask_2, drop_audio, spk=spk_2)
            return guidance.combine(v[:b], v[b:])  # (b, n, f)

    result = solve(velocity, x_0, sampling_grid(options), options.solver)
    out = result.x  # (b, n, f)
    mels = [out[i, job.ref_mel.shape[0] : job.total_frames] for i, job in enumerate(jobs)]
    return SampleResult(mels=mels, nfe=result.nfe)
