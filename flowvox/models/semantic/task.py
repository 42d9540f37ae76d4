"""Training task ``semantic``: the semantic tokenizer, in two stages (``stage``).

Run file (see ``configs/semantic-tiny.yaml``)::

    task: semantic
    stage: asr                  # then: stage: vq, init_from: runs/semantic-asr/model
    train: {...}                # flowvox.train.TrainConfig; max_frames counts mel frames
    model: tiny                 # a SemanticConfig preset, {preset: tiny, ...}, or the fields
    loss: {kl_weight: 1.0, codebook_weight: 1.0, commitment_weight: 0.25}
    data: {prepared: prepared/} # `flowvox prepare --mel-preset whisper16k`, or manifest: X.jsonl

With targets y = text bytes + EOT and inputs [SOT] + text bytes (teacher forcing):

    stage asr:  L = CE(D(E(mel)), y)                            encoder + decoder, no VQ
    stage vq:   L = CE(D(Q(E(mel))), y) + w_kl · KL(D(E(mel)) ‖ D(Q(E(mel))))
                  + w_cb · L_codebook + w_commit · L_commit     encoder and decoder frozen

as WhisperSpeech trains its quantiser through the frozen Whisper decoder (E: encoder +
pooling, Q: the VQ bottleneck with its post blocks, D: decoder logits; KL per text token,
the unquantised teacher first). Stage vq starts from the model folder ``init_from`` (an
exported stage-asr run): its encoder and decoder are loaded and frozen, the VQ starts fresh;
``model`` may then only change the VQ's fields (a preset name must name init_from's
shape). The exported config.json records ``stage``.
"""
# b: batch, n: mel frames, f: mel bins, l: text tokens, v: text vocab

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.data.dataset import MelDataset, Utterance
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.models.loading import stamp_family
from flowvox.models.prepared_data import prepared_folder, read_split
from flowvox.models.semantic.config import SEMANTIC_FAMILY, SemanticConfig
from flowvox.models.semantic.model import (
    SemanticTokenizer,
    batch_text_tokens,
    load_semantic,
    text_tokens,
)
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData, TrainTask

VQ_FIELDS = ("codebook_size", "codebook_dim", "vq_post_depth")  # what stage vq may change


@dataclass
class SemanticLossConfig:
    """Weights of the stage-vq terms (see the module docstring); CE always has weight 1."""

    kl_weight: float = 1.0
    codebook_weight: float = 1.0
    commitment_weight: float = 0.25
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        for key in ("kl_weight", "codebook_weight", "commitment_weight"):
            if getattr(self, key) < 0:
                raise FlowvoxError(f"loss.{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise FlowvoxError(
                f"loss.label_smoothing must lie in [0, 1), got {self.label_smoothing}"
            )


@dataclass
class SemanticDataConfig:
    """Utterances (audio + transcript): a prepared folder (mel preset = the model's) or a
    JSONL manifest (mels computed on the fly); one of the two."""

    prepared: str | None = None
    manifest: str | None = None
    split: str = "train"
    min_item_frames: int = 16
    max_item_frames: int | None = None  # None: the encoder's limit (2 · model.max_frames)
    media_index: int = 0


@dataclass
class SemanticTaskConfig:
    """The ``stage``, ``init_from``, ``model``, ``loss`` and ``data`` sections of a run file."""

    stage: Literal["asr", "vq"] = "asr"
    init_from: str | None = None  # stage vq: the model folder of a finished stage-asr run
    # None: "tiny" (asr), init_from's (vq); in stage vq a preset must match init_from's shape
    model: str | dict[str, Any] | None = None
    loss: SemanticLossConfig = field(default_factory=SemanticLossConfig)
    data: SemanticDataConfig = field(default_factory=SemanticDataConfig)


@dataclass
class SemanticBatch:
    """Mels (b, n, f) zero-padded, their frames (b,), decoder inputs and targets (b, l)."""

    mel: Tensor
    lengths: Tensor
    inputs: Tensor
    targets: Tensor
    texts: list[str]

    def to(self, device: torch.device | str) -> SemanticBatch:
        return SemanticBatch(
            self.mel.to(device), self.lengths.to(device), self.inputs.to(device),
            self.targets.to(device), self.texts,
        )  # fmt: skip


def collate_semantic(items: Sequence[Utterance]) -> SemanticBatch:
    lengths = torch.tensor([u.mel.shape[0] for u in items])
    mel = torch.zeros(len(items), int(lengths.max()), items[0].mel.shape[1])
    for row, item in enumerate(items):
        mel[row, : item.mel.shape[0]] = item.mel
    inputs, targets = batch_text_tokens([u.text for u in items])
    return SemanticBatch(mel, lengths, inputs, targets, [u.text for u in items])


def kl_per_token(teacher: Tensor, student: Tensor, targets: Tensor) -> Tensor:
    """Mean over real tokens (targets ≠ −100) of KL(p_teacher ‖ p_student), logits (b, l, v)."""
    real = targets != -100  # (b, l)
    log_t, log_s = teacher.float().log_softmax(-1), student.float().log_softmax(-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)  # (b, l)
    return (kl * real).sum() / real.sum().clamp(min=1)


def code_perplexity(codes: Tensor, mask: Tensor, size: int) -> Tensor:
    """exp(entropy) of the batch's code histogram: 1 (one code) .. ``size`` (all alike)."""
    counts = torch.bincount(codes[mask], minlength=size).float()
    p = counts / counts.sum().clamp(min=1.0)
    return torch.exp(-(p * p.clamp(min=1e-12).log()).sum())


class SemanticTask(TrainTask):
    """Trains ``SemanticTokenizer`` (see the module docstring)."""

    config_class = SemanticTaskConfig
    export_module = "model"

    def __init__(self, config: SemanticTaskConfig) -> None:
        super().__init__(config)
        self.teacher_state: dict[str, Tensor] | None = None
        if config.stage == "asr":
            if config.init_from is not None:
                raise FlowvoxError("init_from belongs to stage vq; drop it for stage asr")
            self.model_config = SemanticConfig.from_section(config.model or "tiny")
        else:
            self.model_config = self._vq_stage_config(config)
        config.model = self.model_config.to_dict()  # what checkpoints and export store

    def _vq_stage_config(self, config: SemanticTaskConfig) -> SemanticConfig:
        if not config.init_from:
            raise FlowvoxError(
                "stage vq trains the quantiser of a finished stage-asr model; set init_from "
                "to its model folder (e.g. runs/semantic-asr/model)"
            )
        teacher = load_semantic(config.init_from)
        base = teacher.config.to_dict()
        section = config.model
        if isinstance(section, str) or (isinstance(section, dict) and "preset" in section):
            wanted = SemanticConfig.from_section(section).to_dict()  # a preset: all fields
        else:
            wanted = {**base, **(section or {})}  # fields over init_from's
        fixed = [k for k, v in wanted.items() if k not in VQ_FIELDS and base.get(k) != v]
        if fixed:
            raise FlowvoxError(
                f"stage vq: the model comes from init_from={config.init_from}; the model "
                f"section may only change {', '.join(VQ_FIELDS)}, but it changes "
                f"{', '.join(fixed)}; drop those keys, or the model section"
            )
        self.teacher_state = {
            k: v for k, v in teacher.state_dict().items() if not k.startswith("vq.")
        }
        return SemanticConfig.from_dict(wanted)

    def build_modules(self) -> dict[str, nn.Module]:
        model = SemanticTokenizer(self.model_config)
        through_vq = self.config.stage == "vq"
        if self.teacher_state is not None:  # the encoder and decoder of init_from
            result = model.load_state_dict(self.teacher_state, strict=False)
            assert not result.unexpected_keys, result.unexpected_keys
            assert all(k.startswith("vq.") for k in result.missing_keys), result.missing_keys
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith("vq.") == through_vq)
        return {"model": model}

    # ------------------------------------------------------------------ data
    def _utterances(self) -> MelDataset:
        data, mel = self.config.data, self.model_config.mel_config
        if (data.prepared is None) == (data.manifest is None):
            raise FlowvoxError(
                "data: set one of data.prepared (a `flowvox prepare --mel-preset whisper16k` "
                "folder) and data.manifest (a JSONL manifest)"
            )
        if data.prepared is not None:
            return read_split(prepared_folder(data), data.split, mel)
        entries = [e for e in read_manifest(data.manifest) if e.split == data.split]
        if not entries:
            raise FlowvoxError(f"{data.manifest}: no entry of split {data.split!r}")
        return MelDataset(entries, mel)

    def train_data(self) -> TrainData:
        data, cfg = self.config.data, self.model_config
        dataset = self._utterances()
        longest = data.max_item_frames or 2 * cfg.max_frames
        keep = [
            i
            for i, (entry, n) in enumerate(zip(dataset.entries, dataset.lengths, strict=True))
            if data.min_item_frames <= n <= longest
            and len(text_tokens(entry.text)) <= cfg.max_text_tokens
        ]
        if not keep:
            raise FlowvoxError(
                f"data: no {data.split} utterance has {data.min_item_frames} .. {longest} mel "
                f"frames and a transcript of at most {cfg.max_text_tokens - 2} UTF-8 bytes; "
                "widen data.min_item_frames / data.max_item_frames"
            )
        lengths = [dataset.lengths[i] for i in keep]
        return TrainData(torch.utils.data.Subset(dataset, keep), lengths, collate_semantic)

    # ------------------------------------------------------------------ step
    def training_step(
        self, modules: Mapping[str, nn.Module], batch: SemanticBatch, ctx: StepContext
    ) -> StepOutput:
        loss_cfg, through_vq = self.config.loss, self.config.stage == "vq"
        out = modules["model"](batch.mel, batch.lengths, batch.inputs, through_vq)
        ce = F.cross_entropy(
            out.logits.float().flatten(0, 1), batch.targets.flatten(),
            ignore_index=-100, label_smoothing=loss_cfg.label_smoothing,
        )  # fmt: skip
        terms: dict[str, Tensor | float] = {"ce": ce.detach()}
        loss = ce
        if through_vq:
            q = out.quantized
            kl = kl_per_token(out.teacher_logits, out.logits, batch.targets)
            loss = loss + loss_cfg.kl_weight * kl
            loss = loss + loss_cfg.codebook_weight * q.codebook_loss
            loss = loss + loss_cfg.commitment_weight * q.commitment_loss
            perplexity = code_perplexity(q.codes, q.mask, self.model_config.codebook_size)
            terms.update(
                kl=kl.detach(), codebook=q.codebook_loss.detach(),
                commitment=q.commitment_loss.detach(), code_perplexity=perplexity,
            )  # fmt: skip
        return StepOutput(loss, terms=terms, frames=int(batch.lengths.sum()))

    # ------------------------------------------------------------------ media
    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """On the media utterance: ``semantic/token_accuracy`` (teacher forcing) and
        ``semantic/exact`` (1 when the greedy transcript equals the text), through the VQ in
        stage vq."""
        model: SemanticTokenizer = modules[self.export_module]
        device = next(model.parameters()).device
        item = self._utterances()[self.config.data.media_index]
        batch = collate_semantic([item]).to(device)
        enc = model.encode(batch.mel, batch.lengths)
        emb, mask = enc.emb, enc.mask
        if self.config.stage == "vq":
            quantized = model.quantize(emb, mask)
            emb, mask = quantized.quantized, quantized.mask
        logits = model.decode_logits(emb, batch.inputs, mask)  # (1, l, v)
        real = batch.targets != -100
        right = (logits.argmax(-1) == batch.targets) & real
        sink.scalar("semantic/token_accuracy", float(right.sum() / real.sum()))
        text = model.transcribe(emb, mask)[0]
        sink.scalar("semantic/exact", float(text == item.text))

    # ------------------------------------------------------------------ export
    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run file with the family stamp and the model's fields as ``model``
        (``load_semantic``'s format); ``stage`` tells which stage made it."""
        return stamp_family({**run_dict, "model": self.model_config.to_dict()}, SEMANTIC_FAMILY)
