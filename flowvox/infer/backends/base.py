"""The protocol every model family implements to speak through the Synthesizer.

# b: batch (chunks), n: frames, f: mel bins
A backend wraps one model (and its tokenizer) and answers what the family-agnostic
``Synthesizer`` asks of it:

- ``capabilities``: what the family honours (a voice prompt, an explicit duration, a pitch
  shift, an ODE with nfe/cfg/solver/seed, the EPSS grid); ``check_options`` refuses the rest
  with one line naming the option;
- ``chunk_budget`` / ``estimate_frames``: how long a chunk of text may be, and how many
  frames (reference + generated) a chunk will take;
- ``sample``: generated log-mels (g_i, f), one per ``ChunkJob``, as one padded batch whose
  rows do not depend on each other.

A family joins by subclassing ``Backend`` and adding itself to ``flowvox.infer.backends.
BACKENDS``; the folder's "family" stamp picks it (``load_backend``).
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError
from flowvox.flow import ADAPTIVE_METHODS, EPSS_TABLES
from flowvox.infer.duration import chunk_budget, rule_frames
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.reference import Reference
from flowvox.infer.sampling import ChunkJob, SampleResult
from flowvox.models.loading import PretrainedModel, load_model_dir
from flowvox.text.tokenizers import Tokenizer

NO_PROMPT_SOURCE = "<none: the model takes no voice prompt>"


class EpssFallbackWarning(UserWarning):
    """epss was asked for at a step count with no EPSS grid: the uniform grid is used."""


@dataclass(frozen=True)
class Capabilities:
    """What a family honours; an option it cannot honour is refused, never ignored silently
    (except the ODE options of a family with no ODE, which have nothing to act on)."""

    voice_prompt: bool  # ref_audio / ref_text condition the voice
    explicit_duration: bool  # options.duration sets the length (else durations are predicted)
    pitch_shift: bool  # options.pitch_shift in semitones
    ode: bool  # nfe, cfg, solver, sway and seed apply
    epss: bool  # the EPSS time grid exists for it


class Backend(ABC):
    """One model family behind the Synthesizer; see the module docstring."""

    model_class: ClassVar[type[PretrainedModel]]
    label: ClassVar[str]  # in messages: "the aligned TTS model"
    capabilities: ClassVar[Capabilities]
    # submodules kept float32 under precision "int8" (flowvox.infer.int8): those that decide
    # the durations, so that int8 changes how the speech sounds, never its timing
    int8_keep_fp32: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: PretrainedModel, tokenizer: Tokenizer) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> Backend:
        """The backend of a model folder of this family (model in eval mode on ``device``)."""
        loaded = load_model_dir(folder, cls.model_class, device)
        return cls(loaded.model, loaded.tokenizer)

    # --- options ------------------------------------------------------------------------

    def check_options(self, opts: SynthesisOptions) -> None:
        """Refuse (one line, naming the option) what this family cannot honour."""
        caps = self.capabilities
        if opts.duration is not None and not caps.explicit_duration:
            raise FlowvoxError(
                f"duration: {self.label} predicts its own durations; drop duration "
                "(use speed to pace it)"
            )
        if opts.pitch_shift != 0.0 and not caps.pitch_shift:
            raise FlowvoxError(
                f"pitch_shift={opts.pitch_shift}: only FastPitch models take a pitch shift; drop "
                "pitch_shift (--pitch-shift) for this model"
            )
        if opts.epss and caps.ode and not caps.epss:
            raise FlowvoxError(f"epss: {self.label} has no EPSS grid; drop epss (use sway)")
        fixed_steps = opts.solver not in ADAPTIVE_METHODS
        if opts.epss and caps.epss and fixed_steps and opts.nfe not in EPSS_TABLES:
            warnings.warn(
                f"epss: no EPSS grid for nfe={opts.nfe} (F5-TTS has them for nfe "
                f"{', '.join(map(str, sorted(EPSS_TABLES)))}); sampling on the uniform grid "
                f"with sway {opts.sway}, as f5-tts does",
                EpssFallbackWarning,
                stacklevel=4,
            )

    # --- the voice prompt ---------------------------------------------------------------

    def no_prompt_reference(
        self, mel: MelConfig, ref_audio: object, ref_text: str | None
    ) -> Reference:
        """The empty "reference" of a family with no voice prompt (text "", no frames); a
        voice prompt or its transcript is refused with one line."""
        if ref_audio is not None or ref_text is not None:
            name = "ref_audio" if ref_audio is not None else "ref_text"
            raise FlowvoxError(
                f"{name}: {self.label} is single-speaker and takes no voice prompt; drop "
                "ref_audio/ref_text (--ref-audio/--ref-text) or use an infilling or aligned "
                "model"
            )
        empty = torch.zeros(0, mel.n_mels)  # (0, f)
        return Reference(
            np.zeros(0, np.float32), mel.sample_rate, empty, "", False, False, NO_PROMPT_SOURCE
        )

    # --- planning -----------------------------------------------------------------------

    def chunk_budget(self, ref: Reference, opts: SynthesisOptions) -> int:
        """UTF-8 bytes per text chunk: the reference's speaking rate (``chunk_budget``)."""
        return chunk_budget(ref.text, ref.seconds, opts.chunk_seconds, opts.speed)

    def estimate_frames(
        self,
        ref: Reference,
        chunk: str,
        gen_frames: int | None,
        opts: SynthesisOptions,
        frame_rate: float,
    ) -> int:
        """Frames (reference + generated) of a chunk: F5's rule, or the reference plus an
        explicit share of ``duration``. Families that predict durations use it as an
        estimate (batch packing); their own durations decide the audio."""
        if gen_frames is None:
            return rule_frames(ref.frames, ref.text, chunk, opts.speed)
        return ref.frames + gen_frames

    def plan_frames(self, ref: Reference, chunk: str, ids: list[int], total: int) -> int:
        """Last look at a planned row (its token ids and frames); returns the frames."""
        return total

    # --- generation ---------------------------------------------------------------------

    @abstractmethod
    def sample(self, jobs: list[ChunkJob], ref: Reference, opts: SynthesisOptions) -> SampleResult:
        """Generated log-mel (g_i, f) per job, on the model's device."""
