"""Training task ``aligned_shortcut_distill``: a student of an aligned model that synthesises
in one or two ODE steps, in the style of shortcut models (Frans et al. 2024, "One Step
Diffusion via Shortcut Models"), distilled from the teacher's guided velocity.

Run file (``configs/voice-en7-shortcut-distill.yaml``)::

    task: aligned_shortcut_distill
    teacher: flowvox/default_voice     # an aligned model folder, guidance-distilled or not
    train: {...}                       # flowvox.train.TrainConfig
    data: {prepared: prepared/, split: train}
    distill: {w_min: 0.0, w_max: 2.0, loss_on: all, max_steps: 128, self_consistency_frac: 0.25}
    model: {dropout: 0.0}              # optional: fields over the teacher's config
    media: {nfe: 2, cfg: 0.7}          # the student's sample beside the teacher's 32-step one

The student is the teacher's model with ``guidance_embed`` and ``step_embed`` on: its decoder
takes the guidance weight w and the step size d (``FrameDecoder``), and is started from the
teacher's weights (a strict load but for the new embeddings, whose last layers are zero: a
fresh student at any d is the teacher's conditional model, or the teacher itself when that is
guidance-distilled). As in ``aligned_guidance_distill`` (``distill.py``, whose task this one
extends) only the decoder trains; encoder and duration predictor stay the teacher's, frozen.

One step (random numbers from ``ctx.generator``, so a resumed run repeats them):
  1. as guidance distillation: the teacher's draw (span, x_0, t, dropped prompts), w ~
     U[w_min, w_max) per row, μ̃ from the teacher's encoder along MAS durations;
  2. per row with probability ``self_consistency_frac`` a shortcut row: d = 2^-k, k ~ U{0..K},
     K = log2(max_steps), and t = j d, j ~ U{0 .. 1/d - 1} (so t + d ≤ 1); other rows d = 0
     at the teacher's t. x_t = (1 - (1 - σ) t) x_0 + t y;
  3. targets, no grad:  d = 0: v* = v_c + w (v_c - v_u), the teacher's guided velocity (one
     call of a guidance-distilled teacher);  d > 0, h = d/2: s1 = s(x_t, t, w, h),
     x' = x_t + h s1, s2 = s(x', t + h, w, h), v* = (s1 + s2) / 2, the student's own two half
     steps (eval mode). At the finest d = 1/max_steps the halves ask for d = 0, the velocity
     the d = 0 rows learn, so every d the student is asked is one it is trained on;
  4. loss = Σ (s_θ(x_t, t, w, d) - v*)² / (frames · f) over the counted frames (``loss_on``) of
     all rows; ``loss/flow`` and ``loss/shortcut`` log the two kinds of rows alone (0 in a
     batch without rows of the kind).
The teacher's target is computed for every row (a shortcut row does not use it): one doubled
teacher batch, one student pass with gradients and two without on the shortcut rows per step.

Sampling: ``AlignedTTS.synthesize`` of a ``step_embed`` model takes Euler steps on the uniform
grid and tells the decoder d = 1/nfe (powers of two up to max_steps are the trained sizes);
other solvers and sway grids are refused. The export is an ordinary aligned model folder
(``guidance_embed`` and ``step_embed`` on, ``teacher_weights_sha1``) with a ``sampling.json``
of Euler steps, sway 0 and the media nfe and cfg, so ``flowvox speak --model DIR --nfe 1``
needs no sway or solver flag.
"""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError
from flowvox.flow import flow_matching_loss
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.distill import (
    GUIDANCE_PREFIX,
    DistillBatch,
    DistillConfig,
    GuidanceDistillConfig,
    GuidanceDistillTask,
    distill_batch,
    student_config,
    student_velocity,
)
from flowvox.models.aligned.inputs import AlignedBatch
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.aligned.task import AlignedMediaConfig
from flowvox.train.task import StepContext, StepOutput

STEP_PREFIX = "decoder.step_embed."  # with GUIDANCE_PREFIX: the tensors not from the teacher
SAMPLING_FILE = "sampling.json"  # the model folder's sampling defaults (flowvox.infer.model_dir)
TEACHER_MEDIA_NFE = 32  # the teacher's media sample: a many-step reference for the student's


@dataclass
class ShortcutConfig(DistillConfig):
    """Guidance weights and counted frames (as ``DistillConfig``), and the step sizes."""

    max_steps: int = 128  # a power of two: d = 2^-k, k = 0 .. log2(max_steps)
    self_consistency_frac: float = 0.25  # the share of rows with a d > 0 (two half steps) target


@dataclass
class ShortcutDistillConfig(GuidanceDistillConfig):
    """The sections of an ``aligned_shortcut_distill`` run file besides task, out_dir, train."""

    distill: ShortcutConfig = field(default_factory=ShortcutConfig)
    media: AlignedMediaConfig = field(default_factory=lambda: AlignedMediaConfig(nfe=2))


@dataclass(frozen=True)
class StepDraw:
    """Step sizes of one training step: d (b,) (0 on flow rows), t (b,) the rows' times (a
    multiple of d on shortcut rows), half (b,) the half step d/2, half_d (b,) the step size the
    decoder is told for the half steps (d/2, or 0 at the finest d), shortcut (b,) bool."""

    d: Tensor
    t: Tensor
    half: Tensor
    half_d: Tensor
    shortcut: Tensor


def draw_steps(t: Tensor, max_steps: int, frac: float, generator: torch.Generator) -> StepDraw:
    """Step 2 of the module docstring for a batch whose flow rows keep the times ``t`` (b,)."""
    b, levels, gen = t.shape[0], int(math.log2(max_steps)), generator
    shortcut = torch.rand(b, generator=gen, device=gen.device) < frac  # (b,)
    k = torch.randint(0, levels + 1, (b,), generator=gen, device=gen.device)  # (b,) d = 2^-k
    cells = 2.0 ** k.double()  # (b,) steps of size d in [0, 1]
    j = torch.floor(torch.rand(b, generator=gen, device=gen.device, dtype=cells.dtype) * cells)
    grid_t = torch.minimum(j, cells - 1) / cells  # (b,) a multiple of d, t + d <= 1
    d = torch.where(shortcut, 1.0 / cells, 0.0)  # (b,)
    half_d = torch.where(k == levels, 0.0, d / 2)  # the finest d's halves: the flow, d = 0
    shortcut = shortcut.to(t.device)
    return StepDraw(
        d=d.to(t),
        t=torch.where(shortcut, grid_t.to(t), t),
        half=(d / 2).to(t),
        half_d=half_d.to(t),
        shortcut=shortcut,
    )


def rows_of(inputs: DistillBatch, rows: Tensor) -> DistillBatch:
    """``inputs`` restricted to the rows ``rows`` (k,) (indices or a (b,) bool mask)."""
    values = {f.name: getattr(inputs, f.name) for f in dataclasses.fields(inputs)}
    return DistillBatch(**{k: None if v is None else v[rows] for k, v in values.items()})


@torch.no_grad()
def shortcut_target(
    decoder: nn.Module, inputs: DistillBatch, half: Tensor, half_d: Tensor
) -> Tensor:
    """(s1 + s2) / 2 (b, n, f), no grad: two Euler half steps of ``half`` (b,) from x_t at t,
    s1 = s(x_t, t, w, d'), x' = x_t + half s1, s2 = s(x', t + half, w, d'), with d' = ``half_d``
    (b,) the step size the student decoder is told."""
    s1 = student_velocity(decoder, inputs, half_d)  # (b, n, f)
    h = half.to(inputs.x_t)  # (b,)
    mid = dataclasses.replace(inputs, x_t=inputs.x_t + h[:, None, None] * s1, t=inputs.t + h)
    s2 = student_velocity(decoder, mid, half_d)
    return (s1 + s2) / 2


@contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode (no dropout) for the block, its own mode after."""
    was = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was)


class ShortcutDistillTask(GuidanceDistillTask):
    """A one/two-step (shortcut) student of an aligned model (see the module docstring)."""

    config_class = ShortcutDistillConfig
    new_prefixes = (GUIDANCE_PREFIX, STEP_PREFIX)

    def __init__(self, config: ShortcutDistillConfig):
        super().__init__(config)
        steps, frac = config.distill.max_steps, config.distill.self_consistency_frac
        if isinstance(steps, bool) or steps < 1 or steps & (steps - 1):
            raise FlowvoxError(
                f"distill.max_steps={steps}: use a power of two (the finest step 1/max_steps)"
            )
        if not 0.0 <= frac <= 1.0:
            raise FlowvoxError(f"distill.self_consistency_frac={frac}: use a fraction in [0, 1]")

    def check_teacher(self, teacher: AlignedTTSConfig) -> None:
        """Any aligned model but a shortcut one (guidance-distilled teachers are welcome)."""
        if teacher.step_embed:
            raise FlowvoxError(
                f"teacher={self.config.teacher} is already a shortcut model (step_embed); pass "
                "the model it was distilled from"
            )

    def make_student_config(
        self, teacher: AlignedTTSConfig, changes: Mapping[str, Any] | None
    ) -> AlignedTTSConfig:
        """The teacher's config with ``changes``, ``guidance_embed`` and ``step_embed`` on."""
        changes = dict(changes or {})
        if changes.get("step_embed", True) is not True:
            raise FlowvoxError("model.step_embed: the student has step_embed on; drop it")
        return student_config(teacher, {**changes, "step_embed": True})

    def training_step(
        self, modules: Mapping[str, nn.Module], batch: AlignedBatch, ctx: StepContext
    ) -> StepOutput:
        teacher: AlignedTTS = modules["teacher"]
        decoder = modules["decoder"]
        mel, lengths = batch.utterances.mel, batch.utterances.mel_lengths  # (b, n, f), (b,)
        draw = teacher.draw_training(lengths, mel.shape[1], ctx.generator, mel.dtype)
        w = self.draw_weights(mel.shape[0], ctx.generator).to(mel)  # (b,)
        cfg = self.config.distill
        steps = draw_steps(draw.t, cfg.max_steps, cfg.self_consistency_frac, ctx.generator)
        spk = self.draw_speakers(batch, ctx.generator)  # (b, c) or None
        draw = dataclasses.replace(draw, t=steps.t)
        inputs = distill_batch(teacher, batch, draw, w, spk, cfg.loss_on)
        target = inputs.target  # (b, n, f) the teacher's guided velocity
        rows = steps.shortcut.nonzero()[:, 0]  # (k,)
        if len(rows):
            with evaluating(decoder):
                sub = rows_of(inputs, rows)
                pair = shortcut_target(decoder, sub, steps.half[rows], steps.half_d[rows])
            target = target.index_copy(0, rows, pair.to(target))
        pred = student_velocity(decoder, inputs, steps.d)  # (b, n, f)
        loss = flow_matching_loss(pred, target, inputs.counted)
        kinds = {}
        for name, on in (("flow", ~steps.shortcut), ("shortcut", steps.shortcut)):
            counted = inputs.counted & on[:, None]  # (b, n)
            kinds[name] = flow_matching_loss(pred.detach(), target, counted)
        terms = {"distill": loss.detach(), **kinds}
        return StepOutput(loss, terms=terms, frames=int(lengths.sum()))

    def teacher_media_nfe(self) -> int:
        """The teacher's media sample takes ``TEACHER_MEDIA_NFE`` steps: the reference the few
        steps of the student should reach."""
        return max(TEACHER_MEDIA_NFE, self.config.media.nfe)

    def export_files(self, out_dir: Path) -> None:
        """The teacher's vocab, and ``sampling.json``: Euler steps on the uniform grid (sway
        0), the media nfe and cfg."""
        super().export_files(out_dir)
        media = self.config.media
        sampling = {"nfe": media.nfe, "cfg": media.cfg, "sway": 0.0, "solver": "euler"}
        (Path(out_dir) / SAMPLING_FILE).write_text(json.dumps(sampling, indent=1) + "\n")

    def checkpoint_files(self, folder: Path) -> None:
        super().export_files(folder)  # the vocab alone
