"""Training task ``aligned_guidance_distill``: guidance distillation of an aligned model
(Meng et al. 2023, "On distillation of guided diffusion models", its first stage).

Run file (``configs/voice-en7-guidance-distill.yaml``)::

    task: aligned_guidance_distill
    teacher: flowvox/default_voice     # any aligned model folder (frozen, eval, no grad)
    train: {...}                       # flowvox.train.TrainConfig
    data: {prepared: prepared/, split: train}
    distill: {w_min: 0.0, w_max: 2.0, loss_on: all}
    model: {dropout: 0.0}              # optional: fields over the teacher's config
    media: {nfe: 4, cfg: 0.7}          # student beside teacher, every train.media_every

The student is the teacher's model with ``guidance_embed`` on, started from the teacher's
weights (a strict load: only the new guidance embedding is not the teacher's, and its last
layer is zero, so the student starts as the teacher's CONDITIONAL model, unguided). Only its
decoder trains: the text encoder and the duration predictor stay the teacher's, frozen, so
durations (and so speaking rate and length) are exactly the teacher's, the teacher's text
encoding serves both models, and a step costs no encoder backward; the decoder is where the
guided velocity is made and where the ODE spends its calls. A checkpoint holds the decoder.

One step (random numbers from ``ctx.generator``, so a resumed run repeats them):
  1. teacher, no grad: μ = encoder(text), durations d = MAS(μ, y) on the real mel y, and
     μ̃ = μ expanded along d (b, n, f), as the aligned training conditions;
  2. span, x_0 and t from the teacher's own training draw (``AlignedTTS.draw_training``):
     cond = y outside a hidden span of 70-100 % of the frames, and cond = 0 in the rows whose
     prompt that draw drops (an unprompted synthesis); then w ~ U[w_min, w_max) per item;
     x_t = (1 - (1 - σ) t) x_0 + t y;
  3. target, teacher, no grad, one doubled batch: v* = v_c + w (v_c - v_u), v_u with prompt,
     text and speaker dropped (``teacher_guided_velocity``);
  4. loss = Σ (v_θ(x_t, cond, μ̃, t, w) - v*)² / (frames · f) over every real frame
     (``loss_on: all``: in the ODE the prompt frames' states feed the others through
     attention, so the student should move them as the teacher does) or over the span.
A teacher with a speaker vector (``cond_dim``) gives both models the same d-vector of another
utterance of the speaker, as its training did.

The teacher is never saved in checkpoints: every start reads it from its folder again. The
export is an ordinary aligned model folder (``guidance_embed`` on; config.json records
``teacher`` and ``teacher_weights_sha1``) that ``flowvox speak --model``, ``flowvox pack``
and ``flowvox export-onnx`` use as any aligned model; the Synthesizer's cfg goes in as w.
Not done: x_t drawn from the teacher's own ODE trajectories instead of the data path.
``aligned_shortcut_distill`` (``shortcut.py``, a one/two-step student) builds on this task.
"""
# b: batch, l: tokens (blanks included), n: frames, f: mel bins, c: speaker channels

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from flowvox.data.dataset import MelDataset
from flowvox.data.dvectors import SpeakerVectors, cached_dvectors, speaker_vectors
from flowvox.errors import FlowvoxError
from flowvox.flow import OTCFMPath, flow_matching_loss
from flowvox.models.aligned.config import ALIGNED_FAMILY, AlignedTTSConfig
from flowvox.models.aligned.inputs import AlignedBatch, AlignedCollate
from flowvox.models.aligned.model import AlignedDraw, AlignedTTS, FrameDecoder
from flowvox.models.aligned.task import AlignedMediaConfig
from flowvox.models.loading import (
    WEIGHTS_FILE,
    model_folder,
    read_model_dir,
    read_weights,
    stamp_family,
)
from flowvox.models.prepared_data import PreparedDataConfig, prepared_folder, read_split
from flowvox.models.training_text import PHONEME_PREFIX, TrainingText, split_texts
from flowvox.nn.duration import expand_by_durations
from flowvox.nn.masks import lengths_to_mask, pad_ids
from flowvox.nn.state_dict import check_state_dict
from flowvox.text import phonemize
from flowvox.text.tokenizers import CharTokenizer
from flowvox.train.media import log_duration_media
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData, TrainTask

GUIDANCE_PREFIX = "decoder.guidance_embed."  # the student's only tensors not from the teacher


@dataclass
class DistillConfig:
    """The guidance weights the student learns, and the frames its loss counts."""

    w_min: float = 0.0
    w_max: float = 2.0  # w ~ U[w_min, w_max) per item; the bundled voice speaks at 0.7
    loss_on: Literal["all", "span"] = "all"  # every real frame, or the hidden span only


@dataclass
class GuidanceDistillConfig:
    """The sections of an ``aligned_guidance_distill`` run file besides task, out_dir, train."""

    teacher: str | None = None  # the teacher's model folder (required)
    model: dict[str, Any] | None = None  # fields over the teacher's config, e.g. dropout
    data: PreparedDataConfig = field(default_factory=PreparedDataConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    media: AlignedMediaConfig = field(default_factory=AlignedMediaConfig)


@dataclass(frozen=True)
class DistillBatch:
    """The student's inputs and target: x_t, cond, mu (b, n, f); t, w (b,); mask (b, n) real
    frames; counted (b, n) frames of the loss; spk (b, c) or None; target v* (b, n, f)."""

    x_t: Tensor
    cond: Tensor
    mu: Tensor
    t: Tensor
    w: Tensor
    mask: Tensor
    counted: Tensor
    spk: Tensor | None
    target: Tensor


def teacher_guided_velocity(
    decoder: FrameDecoder,
    x_t: Tensor,
    cond: Tensor,
    mu: Tensor,
    t: Tensor,
    mask: Tensor,
    w: Tensor,
    spk: Tensor | None = None,
) -> Tensor:
    """v_c + w (v_c - v_u) (b, n, f) with a weight per row, w (b,): the decoder on the doubled
    batch (rows b..2b-1 drop prompt, text and speaker), as ``AlignedTTS.velocity_fn``; a
    guidance-distilled decoder (``guidance_embed``) gives it in one call on b rows."""
    b = x_t.shape[0]
    if decoder.guidance_embed is not None:  # w is its input (a shortcut student's teacher)
        no = torch.zeros(b, dtype=torch.bool, device=x_t.device)
        return decoder(x_t, cond, mu, t, mask, no, no, spk, w.to(x_t))
    drop = torch.arange(2 * b, device=x_t.device) >= b  # (2b,)

    def two(x: Tensor | None) -> Tensor | None:
        return None if x is None else torch.cat((x, x))

    v = decoder(two(x_t), two(cond), two(mu), two(t), two(mask), drop, drop, two(spk))
    v_c, v_u = v[:b], v[b:]  # (b, n, f) each
    return v_c + w.to(v)[:, None, None] * (v_c - v_u)


@torch.no_grad()
def distill_batch(
    teacher: AlignedTTS,
    batch: AlignedBatch,
    draw: AlignedDraw,
    w: Tensor,
    spk: Tensor | None = None,
    loss_on: str = "all",
) -> DistillBatch:
    """Steps 1-3 of the module docstring for ``batch`` with the random choices ``draw`` and
    weights ``w`` (b,)."""
    mel, mel_lengths = batch.utterances.mel, batch.utterances.mel_lengths  # (b, n, f), (b,)
    n = mel.shape[1]
    enc = teacher.encode(batch.ids, batch.lengths, spk)
    durations = teacher.align(enc, mel, mel_lengths)  # (b, l)
    mu = expand_by_durations(enc.mu, durations, n).x  # (b, n, f)
    mask = lengths_to_mask(mel_lengths, n)  # (b, n)
    hidden = draw.span_mask[..., None] | draw.drop_audio[:, None, None]  # (b, n, 1)
    cond = mel.masked_fill(hidden, 0.0)  # the prompt, 0 in rows without one
    x_t = OTCFMPath(teacher.config.effective_sigma_min).sample(draw.x_0, mel, draw.t).x_t
    target = teacher_guided_velocity(teacher.decoder, x_t, cond, mu, draw.t, mask, w, spk)
    counted = mask if loss_on == "all" else draw.span_mask & mask
    return DistillBatch(x_t, cond, mu, draw.t, w.to(mel), mask, counted, spk, target)


def student_velocity(decoder: nn.Module, inputs: DistillBatch, d: Tensor | None = None) -> Tensor:
    """v_θ(x_t, cond, μ̃, t, w [, d]) (b, n, f): ONE call of the (wrapped) student decoder; d
    (b,) the step sizes of a ``step_embed`` (shortcut) student."""
    no = torch.zeros_like(inputs.mask[:, 0])  # (b,) nothing dropped
    args = (inputs.x_t, inputs.cond, inputs.mu, inputs.t, inputs.mask)
    return decoder(*args, no, no, inputs.spk, inputs.w, d)


def student_config(
    teacher: AlignedTTSConfig, changes: Mapping[str, Any] | None
) -> AlignedTTSConfig:
    """The teacher's config with ``changes`` (a run's ``model`` section, or the whole student
    config a checkpoint stores) over it and ``guidance_embed`` on."""
    changes = dict(changes or {})
    vocab = changes.get("text_vocab_size", teacher.text_vocab_size)
    if changes.get("guidance_embed", True) is not True or vocab != teacher.text_vocab_size:
        raise FlowvoxError(
            "model: the student keeps the teacher's vocab and has guidance_embed on; drop "
            "model.guidance_embed and model.text_vocab_size"
        )
    return AlignedTTSConfig.from_dict({**teacher.to_dict(), **changes, "guidance_embed": True})


class GuidanceDistillTask(TrainTask):
    """Guidance distillation of an aligned model (see the module docstring)."""

    config_class = GuidanceDistillConfig
    export_module = "decoder"
    new_prefixes: tuple[str, ...] = (GUIDANCE_PREFIX,)  # the student's tensors not the teacher's

    def __init__(self, config: GuidanceDistillConfig):
        super().__init__(config)
        if not config.teacher:
            raise FlowvoxError(
                "teacher is unset: pass the aligned model folder to distil, e.g. "
                "--set teacher=flowvox/default_voice"
            )
        try:
            self.teacher_dir = model_folder(config.teacher)
            teacher_config, self.tokenizer = read_model_dir(self.teacher_dir, ALIGNED_FAMILY)
        except FlowvoxError as err:
            raise FlowvoxError(f"teacher={config.teacher}: {err}") from err
        self.check_teacher(teacher_config)
        distill = config.distill
        if not 0.0 <= distill.w_min <= distill.w_max:
            raise FlowvoxError(
                f"distill.w_min={distill.w_min}, w_max={distill.w_max}: need 0 <= w_min <= w_max"
            )
        if distill.loss_on not in ("all", "span"):
            raise FlowvoxError(f"distill.loss_on={distill.loss_on!r}: use 'all' or 'span'")
        if config.data.vocab:
            raise FlowvoxError("data.vocab: the student reads the teacher's vocab; drop data.vocab")
        self.teacher_config = teacher_config
        self.model_config = self.make_student_config(teacher_config, config.model)
        self.prepared = prepared_folder(config.data)
        self.text = self._training_text()
        self.collate = AlignedCollate(self.text)
        self.speakers: SpeakerVectors | None = None  # the training d-vectors (cond_dim > 0)
        self.student: AlignedTTS | None = None  # built by build_modules
        config.model = self.model_config.to_dict()  # what checkpoints and export store

    def check_teacher(self, teacher: AlignedTTSConfig) -> None:
        """Refuse a teacher this task cannot distil (one already guidance-distilled)."""
        if teacher.guidance_embed or teacher.step_embed:
            raise FlowvoxError(
                f"teacher={self.config.teacher} is already guidance-distilled (guidance_embed); "
                "pass the model it was distilled from"
            )

    def make_student_config(
        self, teacher: AlignedTTSConfig, changes: Mapping[str, Any] | None
    ) -> AlignedTTSConfig:
        """The student's config (``student_config``)."""
        return student_config(teacher, changes)

    def _training_text(self) -> TrainingText:
        """The teacher's tokenizer; phoneme tokenizers get the splits' IPA once."""
        name = self.tokenizer.name
        if not name.startswith(PHONEME_PREFIX):
            return TrainingText(self.tokenizer)
        texts = split_texts(self.prepared, (self.config.data.split, "test"))
        ipa = phonemize(texts, name[len(PHONEME_PREFIX) :])
        return TrainingText(self.tokenizer, dict(zip(texts, ipa, strict=True)))

    def build_modules(self) -> dict[str, nn.Module]:
        state = read_weights(self.teacher_dir)
        where = f"teacher={self.config.teacher} ({WEIGHTS_FILE})"
        teacher = AlignedTTS(self.teacher_config)
        check_state_dict(teacher, state, where)
        teacher.load_state_dict(state)
        teacher.requires_grad_(False).eval()
        student = AlignedTTS(self.model_config)
        new = {
            k: v
            for k, v in student.state_dict().items()
            if k.startswith(self.new_prefixes) and k not in state
        }
        check_state_dict(student, {**state, **new}, where, fix="drop the model fields that "
                         "change the architecture (the student has the teacher's)")  # fmt: skip
        student.load_state_dict({**state, **new})
        student.encoder.requires_grad_(False)  # the decoder alone trains
        student.duration_predictor.requires_grad_(False)
        self.student = student
        return {"decoder": student.decoder, "teacher": teacher}

    def train_data(self) -> TrainData:
        data, config = self.config.data, self.model_config
        dataset = read_split(
            self.prepared, data.split, config.mel, self.collate.encode, config.add_blank,
            data.min_item_frames, data.max_item_frames,
        )  # fmt: skip
        if config.cond_dim > 0:
            self.speakers = speaker_vectors(self.prepared, dataset.entries)
        return TrainData(dataset, dataset.lengths, self.collate)

    def draw_weights(self, b: int, generator: torch.Generator) -> Tensor:
        """w ~ U[w_min, w_max) (b,), from ``generator``."""
        lo, hi = self.config.distill.w_min, self.config.distill.w_max
        return lo + (hi - lo) * torch.rand(b, generator=generator, device=generator.device)

    def draw_speakers(self, batch: AlignedBatch, generator: torch.Generator) -> Tensor | None:
        """(b, c): another utterance's d-vector of each row's speaker (``cond_dim``), else None."""
        if self.model_config.cond_dim == 0:
            return None
        assert self.speakers is not None, "train_data() builds the speaker vectors"
        mel = batch.utterances.mel
        return self.speakers.draw(batch.utterances.indices, generator).to(mel)

    def training_step(
        self, modules: Mapping[str, nn.Module], batch: AlignedBatch, ctx: StepContext
    ) -> StepOutput:
        teacher: AlignedTTS = modules["teacher"]
        mel, lengths = batch.utterances.mel, batch.utterances.mel_lengths  # (b, n, f), (b,)
        draw = teacher.draw_training(lengths, mel.shape[1], ctx.generator, mel.dtype)
        w = self.draw_weights(mel.shape[0], ctx.generator).to(mel)  # (b,)
        spk = self.draw_speakers(batch, ctx.generator)  # (b, c) or None
        inputs = distill_batch(teacher, batch, draw, w, spk, self.config.distill.loss_on)
        pred = student_velocity(modules["decoder"], inputs)  # (b, n, f)
        loss = flow_matching_loss(pred, inputs.target, inputs.counted)
        return StepOutput(loss, terms={"distill": loss.detach()}, frames=int(lengths.sum()))

    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """Truth over the student's sample (predicted durations), and the mean |student -
        teacher| of the two samples from the same noise at the media cfg."""
        teacher: AlignedTTS = modules["teacher"]
        student = self._media_student(teacher, modules["decoder"])
        device = next(teacher.parameters()).device
        item = self._media_dataset()[self.config.data.media_index]
        ids, lengths = pad_ids([self.collate.encode(item.text)])
        media, spk = self.config.media, None
        if self.model_config.cond_dim > 0:
            spk = cached_dvectors(self.prepared, [item.audio_path]).to(device)  # (1, c)

        def sample(model: AlignedTTS, nfe: int) -> Tensor:
            gen = torch.Generator().manual_seed(media.seed)
            out = model.synthesize(
                ids.to(device), lengths.to(device), spk=spk, nfe=nfe, cfg=media.cfg,
                generator=gen,
            )  # fmt: skip
            return out.mel[0].float().cpu()  # (m, f)

        try:
            fake, guided = sample(student, media.nfe), sample(teacher, self.teacher_media_nfe())
        except FlowvoxError:  # predicted durations past max_frames
            sink.scalar("media/frames_error", float("inf"))
            return
        log_duration_media(sink, item.mel, fake)
        sink.scalar("media/l1_to_teacher", float((fake - guided).abs().mean()))

    def teacher_media_nfe(self) -> int:
        """The steps of the teacher's media sample: the student's (``media.nfe``)."""
        return self.config.media.nfe

    def _media_student(self, teacher: AlignedTTS, decoder: nn.Module) -> AlignedTTS:
        """The student for sampling: the teacher's encoder and predictor, ``decoder``."""
        assert self.student is not None, "build_modules() builds the student"
        student = self.student
        student.encoder, student.duration_predictor = teacher.encoder, teacher.duration_predictor
        student.decoder = decoder
        return student.eval()

    def _media_dataset(self) -> MelDataset:
        split = "test" if (self.prepared / "test.jsonl").is_file() else self.config.data.split
        return read_split(self.prepared, split, self.model_config.mel)

    def export_state_dict(self, ema_state: dict[str, Tensor]) -> dict[str, Tensor]:
        """The frozen tensors (the teacher's, read again, in float32 as trained) and the
        decoder's EMA weights."""
        frozen = {
            k: v.float() if v.is_floating_point() else v
            for k, v in read_weights(self.teacher_dir).items()
            if not k.startswith("decoder.")
        }
        return {**frozen, **{f"decoder.{k}": v for k, v in ema_state.items()}}

    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run config, stamped as an aligned model folder, and the teacher's weights' sha1."""
        digest = hashlib.sha1((self.teacher_dir / WEIGHTS_FILE).read_bytes()).hexdigest()
        return {**stamp_family(run_dict, ALIGNED_FAMILY), "teacher_weights_sha1": digest}

    def export_files(self, out_dir: Path) -> None:
        """The teacher's vocab beside the weights (char and phoneme tokenizers)."""
        if isinstance(self.tokenizer, CharTokenizer):
            self.tokenizer.save(Path(out_dir) / (self.model_config.vocab_file or "vocab.txt"))

    def checkpoint_files(self, folder: Path) -> None:
        self.export_files(folder)
