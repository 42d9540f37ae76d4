"""Training task ``s2a``: semantic tokens + voice prompt -> mel (part 4 of T2S: the acoustic
half that turns generated tokens into speech).

Run file (see ``configs/s2a-tiny.yaml``)::

    task: s2a
    train: {...}                 # flowvox.train.TrainConfig; max_frames counts mel frames
    model: tiny                  # an S2AConfig preset, {preset: tiny, ...}, or the fields
    data:
      tokenizer: runs/semantic-small-vq/model   # the frozen tokenizer (stage vq)
      prepared: prepared/                       # `flowvox prepare` with the model's mel preset
      token_cache: prepared/s2a-codes.safetensors   # optional: encode once
    media: {nfe: 16, cfg: 2.0, sway: -1.0}

One step (``S2A.loss_with_draw``; every random number from ``ctx.generator``, so a resumed
run repeats it): F5's span-infilling flow matching with the utterance's codes, repeated to
its mel frames, where F5 has text. The task fills in the tokenizer's ``codebook_size`` and
``token_rate``; the export is stamped "s2a" and holds the tokenizer as ``tokenizer/``
(``flowvox semantic speak`` encodes the voice prompt with it).
"""
# b: batch, n: mel frames, f: mel bins

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.models.loading import stamp_family
from flowvox.models.prepared_data import PreparedDataConfig, prepared_folder, read_split
from flowvox.models.semantic.ar_data import corpus_codes
from flowvox.models.semantic.files import run_tokenizer
from flowvox.models.semantic.s2a_config import S2A_FAMILY, S2AConfig
from flowvox.models.semantic.s2a_data import (
    S2ABatch,
    S2ACollate,
    S2ADataConfig,
    S2ADataset,
    tokenizer_view,
)
from flowvox.models.semantic.s2a_model import S2A, S2AJob
from flowvox.models.semantic.t2s_folder import TOKENIZER_DIR
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData, TrainTask


@dataclass
class S2AMediaConfig:
    """The media sample: the media item's last 70 % from its codes and its first 30 % as
    the prompt, ``nfe`` Euler steps on the sway grid, guidance ``cfg`` (None: the model's)."""

    nfe: int = 16
    cfg: float | None = None
    sway: float = -1.0
    seed: int = 0


@dataclass
class S2ATaskConfig:
    """The ``model``, ``data`` and ``media`` sections of a run file."""

    model: str | dict[str, Any] = "tiny"
    data: S2ADataConfig = field(default_factory=S2ADataConfig)
    media: S2AMediaConfig = field(default_factory=S2AMediaConfig)


class S2ATask(TrainTask):
    """Trains ``S2A`` (see the module docstring)."""

    config_class = S2ATaskConfig
    export_module = "model"

    def __init__(self, config: S2ATaskConfig) -> None:
        super().__init__(config)
        data = config.data
        self.prepared = prepared_folder(PreparedDataConfig(prepared=data.prepared))
        self.tokenizer = run_tokenizer(data.tokenizer)
        tok = self.tokenizer.config
        model = S2AConfig.from_section(config.model)
        self.model_config = model.replace(codebook_size=tok.codebook_size,
                                          token_rate=tok.token_rate)  # fmt: skip
        config.model = self.model_config.to_dict()  # what checkpoints and export store
        self._data: S2ADataset | None = None

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": S2A(self.model_config)}

    # ------------------------------------------------------------------ data
    def dataset(self) -> S2ADataset:
        """The training items (codes encoded, or read from the cache, on first use)."""
        if self._data is None:
            data, cfg = self.config.data, self.model_config
            mels = read_split(self.prepared, data.split, cfg.mel)
            longest = min(data.max_item_frames or cfg.max_frames, cfg.max_frames)
            keep = [i for i, n in enumerate(mels.lengths) if data.min_item_frames <= n <= longest]
            if not keep:
                raise FlowvoxError(
                    f"data: no {data.split} utterance has {data.min_item_frames} .. {longest} "
                    "mel frames; widen data.min_item_frames / data.max_item_frames"
                )
            audio = tokenizer_view(mels, self.tokenizer.config.mel_config)
            codes = corpus_codes(
                self.tokenizer, data.tokenizer, audio, keep, data.encode_frames, data.token_cache
            )
            self._data = S2ADataset(mels, keep, codes)
        return self._data

    def train_data(self) -> TrainData:
        dataset = self.dataset()
        lengths = [dataset.mels.lengths[i] for i in dataset.indices]
        return TrainData(dataset, lengths, S2ACollate(self.model_config))

    # ------------------------------------------------------------------ step
    def training_step(
        self, modules: Mapping[str, nn.Module], batch: S2ABatch, ctx: StepContext
    ) -> StepOutput:
        wrapped = modules["model"]
        model: S2A = getattr(wrapped, "module", wrapped)  # DDP keeps it in .module
        draw = model.draw_training(batch.lengths, batch.mel.shape[1], ctx.generator,
                                   batch.mel.dtype)  # fmt: skip
        out = model.loss_with_draw(batch.mel, batch.lengths, batch.frame_codes, draw, wrapped)
        span = out.span_frames.float() / batch.lengths.sum().clamp(min=1)
        return StepOutput(out.loss, terms={"span_fraction": float(span)},
                          frames=int(batch.lengths.sum()))  # fmt: skip

    # ------------------------------------------------------------------ media
    @torch.no_grad()
    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """The media item's last 70 % made from its codes with its first 30 % as the voice
        prompt: ``s2a/mel_l1`` (mean |made − real| over the made frames) and both mels."""
        model: S2A = modules[self.export_module]
        dataset, media = self.dataset(), self.config.media
        item = dataset[self.config.data.media_index % len(dataset)]
        cfg = self.model_config
        n, m = item.mel.shape[0], len(item.codes)
        if m < 2 or n < 2:
            return  # too short to split into prompt and speech
        split = max(1, min(m - 1, round(0.3 * m)))  # prompt tokens
        r = min(n - 1, round(split * cfg.frames_per_token))  # prompt frames
        job = S2AJob(item.codes[split:], item.mel[:r], item.codes[:split], media.seed)
        made = model.sample([job], media.nfe, media.cfg, media.sway)[0].cpu()  # (g, f)
        real = item.mel[r:]
        k = min(made.shape[0], real.shape[0])
        sink.scalar("s2a/mel_l1", float((made[:k] - real[:k]).abs().mean()))
        sink.image("s2a/mel_made", made.T)
        sink.image("s2a/mel_real", real.T)

    # ------------------------------------------------------------------ export
    def export_files(self, out_dir: Path) -> None:
        """The frozen tokenizer's folder as ``tokenizer/``."""
        shutil.copytree(self.config.data.tokenizer, Path(out_dir) / TOKENIZER_DIR)

    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run file with the family stamp and the model's fields as ``model``."""
        return stamp_family({**run_dict, "model": self.model_config.to_dict()}, S2A_FAMILY)
