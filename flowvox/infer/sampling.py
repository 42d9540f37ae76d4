"""What every family's sampler shares: the job of one row, its result, per-row noise, the grid.

# b: batch (chunks), n: frames (longest chunk), f: mel bins
A backend (``flowvox.infer.backends``) turns a list of ``ChunkJob`` into one padded batch.
Results do not depend on the batch: each row's noise x_0 (L_i, f) comes from its own
``torch.Generator().manual_seed(seed_i)`` on the CPU (``initial_noise``), so a chunk gets the
same noise alone or batched, on any device, and the models mask padding in every layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.flow import EPSS_TABLES, sway, time_grid
from flowvox.flow.solvers import ADAPTIVE_METHODS
from flowvox.infer.options import SynthesisOptions


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
    """(nfe + 1,) time grid as f5-tts 1.1.22 ``CFM.sample`` builds it; None for the adaptive
    solver (it integrates 0 -> 1 on its own steps).

    t = the EPSS grid when ``options.epss`` and nfe is in ``EPSS_TABLES``, else the uniform
    grid; then sway on top: t <- t + s (cos(pi t / 2) - 1 + t) with s = ``options.sway``
    (s = 0 leaves t as it is: EPSS alone, or uniform).
    """
    if options.solver in ADAPTIVE_METHODS:
        return None
    kind = "epss" if options.epss and options.nfe in EPSS_TABLES else "uniform"
    return sway(time_grid(options.nfe, kind), options.sway)


def initial_noise(jobs: Sequence[ChunkJob], n: int, f: int, dtype: torch.dtype) -> Tensor:
    """(b, n, f) noise: row i holds randn(L_i, f) from its job's seed, zeros after."""
    x_0 = torch.zeros(len(jobs), n, f, dtype=dtype)
    for i, job in enumerate(jobs):
        generator = torch.Generator().manual_seed(job.seed)
        x_0[i, : job.total_frames] = torch.randn(job.total_frames, f, generator=generator)
    return x_0
