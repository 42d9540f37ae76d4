"""One batched generation: many chunks, one padded ODE solve, one text encoding.

# b: batch (chunks), n: frames (longest chunk), f: mel bins, c: text channels
Row i of the batch is [reference mel (r_i frames) | frames to generate], L_i frames in
all; rows are padded to n = max L_i and a (b, n) mask marks the real frames (the model
hides padding, so a row's result does not depend on its batch). The audio prompt ``cond``
is the reference mel followed by zeros. With guidance (cfg w > 0) each step evaluates
[conditional rows; unconditional rows] as one batch of 2b and applies
v = v_c + w (v_c - v_u); the text features of all 2b rows are computed once
(``encode_text_cfg``) and reused at every step. Each row's noise x_0 (L_i, f) comes from
its own ``torch.Generator().manual_seed(seed_i)`` on the CPU, so a chunk gets the same
noise alone or batched, on any device. The generated part out[i, r_i:L_i] is returned;
the reference region is dropped (the prompt itself is not re-synthesised).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.flow import F5Guidance, solve, time_grid
from flowvox.flow.solvers import ADAPTIVE_METHODS
from flowvox.infer.options import SynthesisOptions
from flowvox.models.infill_tts import InfillTTS, lengths_to_mask, pad_token_ids


@dataclass(frozen=True)
class ChunkJob:
    """One row: ref_mel (r, f) log-mel, text_ids of ref_text + chunk, total_frames L > r
    (reference + generated), seed of its noise."""

    ref_mel: Tensor
    text_ids: list[int]
    total_frames: int
    seed: int

    @property
    def gen_frames(self) -> int:
        return self.total_frames - self.ref_mel.shape[0]


@dataclass(frozen=True)
class SampleResult:
    """mels: generated log-mel (g_i, f) per job, on the model's device. nfe: model calls."""

    mels: list[Tensor]
    nfe: int


def sampling_grid(options: SynthesisOptions) -> Tensor | None:
    """(nfe + 1,) time grid: EPSS, else sway with ``options.sway`` (0: uniform); None for
    the adaptive solver (it integrates 0 -> 1 on its own steps)."""
    if options.solver in ADAPTIVE_METHODS:
        return None
    if options.epss:
        return time_grid(options.nfe, "epss")
    return time_grid(options.nfe, "sway", options.sway)


def initial_noise(jobs: Sequence[ChunkJob], n: int, f: int, dtype: torch.dtype) -> Tensor:
    """(b, n, f) noise: row i holds randn(L_i, f) from its job's seed, zeros after."""
    x_0 = torch.zeros(len(jobs), n, f, dtype=dtype)
    for i, job in enumerate(jobs):
        generator = torch.Generator().manual_seed(job.seed)
        x_0[i, : job.total_frames] = torch.randn(job.total_frames, f, generator=generator)
    return x_0


@torch.inference_mode()
def sample_chunks(
    model: InfillTTS, jobs: Sequence[ChunkJob], options: SynthesisOptions
) -> SampleResult:
    """Generate every job in one padded batch; see the module doc for the layout."""
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
            return model(x, cond, cache, t, mask)

    else:
        cache = model.encode_text_cfg(ids, n, mask)  # (2b, n, c) once per generation
        cond_2 = torch.cat([cond, cond])  # (2b, n, f)
        mask_2 = None if mask is None else torch.cat([mask, mask])  # (2b, n)
        drop_audio = torch.arange(2 * b, device=device) >= b  # (2b,) uncond rows last

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            v = model(torch.cat([x, x]), cond_2, cache, torch.cat([t, t]), mask_2, drop_audio)
            return guidance.combine(v[:b], v[b:])  # (b, n, f)

    result = solve(velocity, x_0, sampling_grid(options), options.solver)
    out = result.x  # (b, n, f)
    mels = [out[i, job.ref_mel.shape[0] : job.total_frames] for i, job in enumerate(jobs)]
    return SampleResult(mels=mels, nfe=result.nfe)
