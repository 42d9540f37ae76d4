"""Options of one synthesis call and the audio it returns."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from flowvox.errors import FlowvoxError
from flowvox.flow import ADAPTIVE_METHODS, FIXED_STEP_METHODS

MAX_PITCH_SHIFT = 24.0  # semitones (two octaves)
PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class SynthesisOptions:
    """How to sample: solver, steps, guidance, pacing and randomness.

    nfe: ODE steps (model evaluations for Euler; a midpoint step costs 2, RK4 4).
    cfg: F5 guidance weight w in v = v_c + w (v_c - v_u); 0 switches guidance off (no
        doubled batch). sway: F5 sway coefficient s in [-1, 1] (0: uniform grid).
    solver: "euler", "midpoint", "rk4" or "dopri5" (adaptive; nfe is then unused).
    epss: as f5-tts (its default): the EPSS grid for nfe in 5, 6, 7, 10, 12, 16, with sway
        applied on top (sway=0: EPSS alone); another nfe keeps the uniform grid (a notice
        says so). See ``flowvox.infer.sampling.sampling_grid``.
    speed: > 1 speaks faster (F5 rule frames / speed). duration: seconds of generated speech
        (without the reference), overriding the F5 rule; spread over the chunks of a long text.
    seed: chunk j of every text draws its noise from ``torch.Generator().manual_seed(seed + j)``;
        None draws a fresh seed per text. cross_fade: seconds of linear cross-fade between
        chunks. max_ref_seconds: a longer reference is cut at a quiet frame before this.
    chunk_seconds: chunks hold at most the text the reference's speaking rate fits into
        ``chunk_seconds - reference seconds`` (F5: 22). language: text normalisation rules
        ("en", "es", ...); None takes the model's phoneme language, else "en".
    normalize: write numbers and abbreviations as words before tokenizing.
    pitch_shift: semitones added to the predicted pitch (FastPitch models only; in [-24, 24]).
    precision: "fp32", or "bf16" to run the acoustic model's matrix products in bfloat16
        (autocast; the ODE state, the vocoder and the output stay float32). On a CPU with
        AVX-512 BF16 or AMX, and on GPUs, this is about 2x faster; outputs differ slightly.
        "int8" (CPU only): the acoustic model's ``nn.Linear`` layers dynamically quantised to
        int8 (``flowvox.infer.int8``), the rest float32.
    """

    nfe: int = 32
    cfg: float = 2.0
    sway: float = -1.0
    solver: str = "euler"
    epss: bool = False
    speed: float = 1.0
    duration: float | None = None
    seed: int | None = None
    cross_fade: float = 0.15
    max_ref_seconds: float = 12.0
    chunk_seconds: float = 22.0
    language: str | None = None
    normalize: bool = True
    pitch_shift: float = 0.0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ``FlowvoxError`` naming the first bad option and its valid range."""
        if isinstance(self.nfe, bool) or not isinstance(self.nfe, int) or self.nfe < 1:
            raise FlowvoxError(f"nfe={self.nfe!r}: use a whole number of ODE steps >= 1 (e.g. 32)")
        if not _finite(self.cfg) or self.cfg < 0:
            raise FlowvoxError(f"cfg={self.cfg!r}: use a guidance weight >= 0 (0 = off, F5: 2)")
        if not _finite(self.sway) or not -1.0 <= self.sway <= 1.0:
            raise FlowvoxError(f"sway={self.sway!r}: use a coefficient in [-1, 1] (F5: -1)")
        if self.solver not in FIXED_STEP_METHODS + ADAPTIVE_METHODS:
            raise FlowvoxError(
                f"solver={self.solver!r}: choose one of "
                f"{', '.join(FIXED_STEP_METHODS + ADAPTIVE_METHODS)}"
            )
        if not _finite(self.speed) or self.speed <= 0:
            raise FlowvoxError(f"speed={self.speed!r}: use a factor > 0 (1 = the reference's pace)")
        if self.duration is not None and (not _finite(self.duration) or self.duration <= 0):
            raise FlowvoxError(f"duration={self.duration!r}: give seconds > 0, or None for auto")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise FlowvoxError(f"seed={self.seed!r}: use a whole number, or None for random")
        if not _finite(self.cross_fade) or self.cross_fade < 0:
            raise FlowvoxError(f"cross_fade={self.cross_fade!r}: use seconds >= 0 (F5: 0.15)")
        if not _finite(self.max_ref_seconds) or self.max_ref_seconds < 1.0:
            raise FlowvoxError(f"max_ref_seconds={self.max_ref_seconds!r}: use >= 1 (F5: 12)")
        if not _finite(self.chunk_seconds) or self.chunk_seconds <= self.max_ref_seconds:
            raise FlowvoxError(
                f"chunk_seconds={self.chunk_seconds!r}: must exceed max_ref_seconds="
                f"{self.max_ref_seconds} (F5: 22 and 12)"
            )
        if not _finite(self.pitch_shift) or abs(self.pitch_shift) > MAX_PITCH_SHIFT:
            raise FlowvoxError(f"pitch_shift={self.pitch_shift!r}: use semitones in [-24, 24]")
        if self.precision not in PRECISIONS:
            raise FlowvoxError(
                f"precision={self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )

    def replace(self, **changes) -> SynthesisOptions:
        """A checked copy with ``changes``; an unknown name is a ``FlowvoxError``."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FlowvoxError(
                f"unknown synthesis option(s) {unknown}; known options: {sorted(known)}"
            )
        return dataclasses.replace(self, **changes)


def resolve_options(
    options: SynthesisOptions | None, overrides: dict, defaults: dict | None = None
) -> SynthesisOptions:
    """``options`` (default ``SynthesisOptions(**defaults)``: a model's sampling defaults)
    with keyword ``overrides`` applied."""
    if options is not None and not isinstance(options, SynthesisOptions):
        raise FlowvoxError(
            f"options must be a SynthesisOptions, got {type(options).__name__}; "
            "pass single settings as keywords instead (nfe=16, cfg=2.0, ...)"
        )
    base = options if options is not None else SynthesisOptions(**(defaults or {}))
    return base.replace(**overrides) if overrides else base


class Speech(NamedTuple):
    """Generated audio: ``wav`` (s,) float32 in [-1, 1] at ``sample_rate`` Hz."""

    wav: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.wav) / self.sample_rate


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
