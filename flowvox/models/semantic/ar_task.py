"""Training task ``t2s_ar``: the autoregressive T2S baseline (WhisperSpeech's T2S).

Run file (see ``configs/t2s-ar-tiny.yaml``)::

    task: t2s_ar
    train: {...}                # flowvox.train.TrainConfig; max_frames counts decoder ids
    model: tiny                 # an ARConfig preset, {preset: tiny, ...}, or the fields
    loss: {label_smoothing: 0.0}
    data:
      tokenizer: runs/semantic-small-vq/model    # a trained (stage vq) semantic tokenizer
      prepared: prepared-w16/                    # or manifest: X.jsonl (mels on the fly)
      token_cache: prepared-w16/t2s-codes.safetensors   # optional: encode once

The export holds the tokenizer as ``tokenizer/`` (``load_ar_pair`` reads both). The
targets are the frozen tokenizer's codes of each utterance's real audio (computed when
the run starts, or read from ``data.token_cache``); teacher forcing with cross-entropy:

    L = CE(logits(bytes, [BOS, c_1 .. c_n], cps), [c_1 .. c_n, EOS])   over real positions

with cps = characters / (n / token_rate) of the utterance. The export records the
tokenizer's ``token_rate``, the median cps of the training data as ``model.default_cps``
(unless the model section sets it), the training characters as ``model.charset`` and the
tokenizer's original folder as ``tokenizer``.
"""
# b: batch, n: decoder positions, v: decoder vocab

from __future__ import annotations

import shutil
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.errors import FlowvoxError
from flowvox.models.loading import stamp_family
from flowvox.models.semantic.ar import ARTextToSemantic
from flowvox.models.semantic.ar_config import AR_FAMILY, ARConfig
from flowvox.models.semantic.ar_data import (
    ARBatch,
    ARCollate,
    ARItem,
    corpus_codes,
    make_items,
    read_utterances,
)
from flowvox.models.semantic.ar_generate import check_tokenizer, generate_tokens_ar
from flowvox.models.semantic.files import run_tokenizer
from flowvox.models.semantic.t2s_folder import TOKENIZER_DIR
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData, TrainTask


@dataclass
class ARLossConfig:
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise FlowvoxError(
                f"loss.label_smoothing must lie in [0, 1), got {self.label_smoothing}"
            )


@dataclass
class ARDataConfig:
    """The frozen tokenizer and the utterances (one of ``prepared`` and ``manifest``)."""

    tokenizer: str | None = None  # required: a semantic tokenizer model folder (stage vq)
    prepared: str | None = None  # `flowvox prepare --mel-preset whisper16k` folder
    manifest: str | None = None  # a JSONL manifest (mels computed on the fly)
    split: str = "train"
    token_cache: str | None = None  # a .safetensors file: codes encoded once (None: each run)
    encode_frames: int = 16000  # mel frames per tokenizer batch while encoding
    encode_device: str = "cpu"
    min_item_frames: int = 16  # mel frames
    max_item_frames: int | None = None  # None: what the tokenizer and max_tokens allow
    media_index: int = 0


@dataclass
class ARTaskConfig:
    """The ``model``, ``loss`` and ``data`` sections of a run file."""

    model: str | dict[str, Any] | None = None  # None: "tiny"
    loss: ARLossConfig = field(default_factory=ARLossConfig)
    data: ARDataConfig = field(default_factory=ARDataConfig)


def token_accuracy(logits: Tensor, targets: Tensor) -> Tensor:
    """Share of real targets (≠ −100) that are the argmax of logits (b, n, v)."""
    real = targets != -100
    return ((logits.argmax(-1) == targets) & real).sum() / real.sum().clamp(min=1)


class ARTask(TrainTask):
    """Trains ``ARTextToSemantic`` (see the module docstring)."""

    config_class = ARTaskConfig
    export_module = "model"

    def __init__(self, config: ARTaskConfig) -> None:
        super().__init__(config)
        data = config.data
        self.tokenizer = run_tokenizer(data.tokenizer, data.encode_device)
        model_config = ARConfig.from_section(config.model or "tiny")
        model_config = model_config.replace(token_rate=self.tokenizer.config.token_rate)
        check_tokenizer(model_config, self.tokenizer.config)
        self.model_config = model_config
        self.items: list[ARItem] | None = None
        config.model = model_config.to_dict()  # what checkpoints store

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": ARTextToSemantic(self.model_config)}

    # ------------------------------------------------------------------ data
    def train_data(self) -> TrainData:
        data, cfg, tok = self.config.data, self.model_config, self.tokenizer.config
        dataset = read_utterances(data.prepared, data.manifest, data.split, self.tokenizer)
        longest = data.max_item_frames or 2 * tok.max_frames
        keep = [
            i
            for i, (entry, n) in enumerate(zip(dataset.entries, dataset.lengths, strict=True))
            if data.min_item_frames <= n <= longest
            and tok.token_frames(n) < cfg.max_tokens
            and 0 < len(entry.text.strip().encode("utf-8")) <= cfg.max_text_bytes
        ]
        if not keep:
            raise FlowvoxError(
                f"data: no {data.split} utterance has {data.min_item_frames} .. {longest} mel "
                f"frames, fewer than {cfg.max_tokens} semantic tokens and a transcript of 1 .. "
                f"{cfg.max_text_bytes} UTF-8 bytes; widen data.min_item_frames / "
                "data.max_item_frames or model.max_tokens"
            )
        codes = corpus_codes(
            self.tokenizer, data.tokenizer, dataset, keep, data.encode_frames, data.token_cache
        )
        texts = [dataset.entries[i].text.strip() for i in keep]
        self.items = make_items(texts, codes, cfg.token_rate)
        if cfg.default_cps is None:
            median = statistics.median(item.cps for item in self.items)
            cfg = cfg.replace(default_cps=round(median, 3))
        if cfg.charset is None:
            cfg = cfg.replace(charset="".join(sorted({ch for t in texts for ch in t})))
        self.model_config = cfg
        lengths = [len(item.codes) + 1 for item in self.items]
        return TrainData(self.items, lengths, ARCollate(self.model_config))

    # ------------------------------------------------------------------ step
    def training_step(
        self, modules: Mapping[str, nn.Module], batch: ARBatch, ctx: StepContext
    ) -> StepOutput:
        logits = modules["model"](batch.text_ids, batch.text_mask, batch.inputs, batch.cps)
        ce = F.cross_entropy(
            logits.float().flatten(0, 1), batch.targets.flatten(),
            ignore_index=-100, label_smoothing=self.config.loss.label_smoothing,
        )  # fmt: skip
        terms: dict[str, Tensor | float] = {
            "ce": ce.detach(), "accuracy": token_accuracy(logits.detach(), batch.targets)
        }  # fmt: skip
        frames = int((batch.targets != -100).sum())
        return StepOutput(ce, terms=terms, frames=frames)

    # ------------------------------------------------------------------ media
    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """On the media pair: ``t2s_ar/token_accuracy`` (teacher forcing), the greedy
        generation's ``t2s_ar/length_ratio`` (generated / real codes) and
        ``t2s_ar/roundtrip_exact`` (1 when the frozen decoder reads the text back)."""
        if self.items is None:
            self.train_data()
        model: ARTextToSemantic = modules[self.export_module]
        device = next(model.parameters()).device
        item = self.items[self.config.data.media_index % len(self.items)]
        batch = ARCollate(self.model_config)([item]).to(device)
        logits = model(batch.text_ids, batch.text_mask, batch.inputs, batch.cps)
        sink.scalar("t2s_ar/token_accuracy", float(token_accuracy(logits, batch.targets)))
        out = generate_tokens_ar(model, [item.text], cps=item.cps)
        sink.scalar("t2s_ar/length_ratio", len(out.codes[0]) / len(item.codes))
        tok_device = next(self.tokenizer.parameters()).device
        sem = self.tokenizer.dequantize(out.padded(self.tokenizer.config.mask_code, tok_device))
        limit = 2 * len(item.text.encode("utf-8")) + 8  # an untrained decoder seldom stops
        text = self.tokenizer.transcribe(sem.emb, sem.mask, max_tokens=limit)[0]
        sink.scalar("t2s_ar/roundtrip_exact", float(text == item.text))

    # ------------------------------------------------------------------ export
    def export_files(self, out_dir: Path) -> None:
        """The frozen tokenizer's folder as ``tokenizer/``."""
        shutil.copytree(self.config.data.tokenizer, Path(out_dir) / TOKENIZER_DIR)

    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run file with the family stamp, the model's fields (``default_cps`` filled)
        as ``model`` and the tokenizer folder as ``tokenizer`` (``load_ar``'s format)."""
        record = {
            **run_dict, "model": self.model_config.to_dict(),
            "tokenizer": self.config.data.tokenizer,
        }  # fmt: skip
        return stamp_family(record, AR_FAMILY)
