"""Training task ``fastpitch``.

Run file (see ``configs/fastpitch-tiny.yaml``)::

    task: fastpitch
    train: {...}                       # flowvox.train.TrainConfig
    model: tiny                        # a preset name, {preset: tiny, enc_dim: 96, ...},
                                       # or every FastPitchConfig field
    data: {prepared: prepared/, split: train}

Pitch: F0 per mel frame (``flowvox.audio.pitch``) is computed once per utterance when the task
starts and cached under ``<prepared>/pitch/`` (``flowvox.data.pitch_cache``); the log-F0
(voiced frames) and frame-energy mean and std of the training split are written into the
model config (``pitch_mean`` ...), so the exported model carries its normalisation. A resumed
run reads the same caches and gets the same statistics.

One step: MAS durations, then loss = mel + prior + duration + pitch + energy terms
(``FastPitch.forward``); no random numbers besides dropout. Utterances with fewer frames than
encoder tokens cannot be aligned and are left out.

The exported directory holds ``model.safetensors``, ``config.json`` (the run config with the
resolved model section) and ``vocab.txt`` (tokenizer "char").
"""
# b: batch, n: mel frames, f: mel bins, l: text tokens

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from flowvox.audio.pitch import PitchConfig, energy
from flowvox.data.dataset import Batch, MelDataset, Utterance, collate_utterances
from flowvox.data.pitch_cache import cached_pitch
from flowvox.errors import FlowvoxError
from flowvox.models.fastpitch.config import FASTPITCH_FAMILY, FastPitchConfig
from flowvox.models.fastpitch.model import FastPitch
from flowvox.models.finetune import NewRows
from flowvox.models.loading import resolve_model_section
from flowvox.models.prepared_data import PreparedDataConfig, read_split
from flowvox.models.training_text import TrainingText
from flowvox.models.tts_task import TTSTask
from flowvox.nn.masks import pad_ids
from flowvox.train.media import log_duration_media
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData


@dataclass
class FastPitchDataConfig(PreparedDataConfig):
    """``PreparedDataConfig`` (media: an item of the "test" split, else of ``split``) plus:"""

    measure_stats: bool = True  # False: keep the model section's pitch/energy mean and std


@dataclass
class FastPitchTaskConfig:
    """The ``model`` and ``data`` sections of a ``fastpitch`` run file, and the fine-tuning
    keys (with ``init_from``, data.measure_stats=false keeps its pitch/energy statistics)."""

    model: str | dict[str, Any] | None = None  # None: "tiny", or init_from's model
    data: FastPitchDataConfig = field(default_factory=FastPitchDataConfig)
    # fine-tuning (flowvox.models.finetune): a model folder of this family starts the run
    init_from: str | None = None
    new_tokens: list[str] | None = None  # symbols appended to its vocab (None: the data's)
    new_rows: NewRows = "matched"  # their embedding rows: "matched" or "normal" (F5's)


@dataclass
class FastPitchItem:
    utterance: Utterance
    pitch: Tensor  # (n,) F0 in Hz per mel frame, 0 unvoiced


@dataclass
class FastPitchBatch:
    utterances: Batch  # mel (b, n, f), mel_lengths (b,), ...
    ids: Tensor  # (b, l) int64 tokenizer ids, 0 past each text
    lengths: Tensor  # (b,)
    pitch: Tensor  # (b, n) Hz, 0 unvoiced and past each item

    def to(self, device: torch.device | str) -> FastPitchBatch:
        return FastPitchBatch(
            self.utterances.to(device),
            self.ids.to(device),
            self.lengths.to(device),
            self.pitch.to(device),
        )


class PitchDataset:
    """``MelDataset`` items with their cached frame pitch (picklable, map-style)."""

    def __init__(self, mels: MelDataset, folder: Path, pitch_config: PitchConfig) -> None:
        self.mels, self.folder, self.pitch_config = mels, folder, pitch_config

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, index: int) -> FastPitchItem:
        utt = self.mels[index]
        f0 = cached_pitch(
            self.folder, utt.audio_path, utt.mel.shape[0], self.mels.mel_config, self.pitch_config
        )
        return FastPitchItem(utt, f0)


class FastPitchCollate:
    """Pads utterances and pitch, tokenizes texts (picklable)."""

    def __init__(self, text: TrainingText) -> None:
        self.text = text

    def __call__(self, items: Sequence[FastPitchItem]) -> FastPitchBatch:
        utterances = collate_utterances([item.utterance for item in items])
        ids, lengths = pad_ids([self.text.encode(t) for t in utterances.texts])  # (b, l), (b,)
        pitch = torch.zeros(len(items), utterances.mel.shape[1])  # (b, n)
        for row, item in enumerate(items):
            pitch[row, : item.pitch.shape[0]] = item.pitch
        return FastPitchBatch(utterances, ids, lengths, pitch)


def resolve_model_config(model: str | Mapping[str, Any], vocab_size: int) -> FastPitchConfig:
    """``model`` section (preset name, {preset: ..., overrides}, or fields) -> config with
    ``text_vocab_size`` = ``vocab_size`` (``flowvox.models.loading``)."""
    return resolve_model_section(FastPitchConfig, model, vocab_size)


def prosody_stats(dataset: PitchDataset) -> dict[str, float]:
    """Mean and std of log F0 over voiced frames and of frame energy over all frames."""
    logs, energies = [], []
    for index in range(len(dataset)):
        item = dataset[index]
        voiced = item.pitch[item.pitch > 0]
        logs.append(voiced.double().log())
        energies.append(energy(item.utterance.mel.double()))
    logs_all, e_all = torch.cat(logs), torch.cat(energies)
    if logs_all.numel() < 2:
        raise FlowvoxError(
            "the training split has fewer than 2 voiced frames: is it speech? set "
            "data.measure_stats=false and model.pitch_mean / pitch_std by hand"
        )
    return {
        "pitch_mean": float(logs_all.mean()),
        "pitch_std": max(float(logs_all.std()), 1e-3),
        "energy_mean": float(e_all.mean()),
        "energy_std": max(float(e_all.std()), 1e-3),
    }


class FastPitchTask(TTSTask):
    """MAS-aligned FastPitch (see the module docstring)."""

    config_class = FastPitchTaskConfig
    family = FASTPITCH_FAMILY

    def __init__(self, config: FastPitchTaskConfig):
        super().__init__(config)
        data = config.data
        self.collate = FastPitchCollate(self.text)
        self.train_set = self._dataset(data.split, filtered=True)
        if data.measure_stats:
            stats = prosody_stats(self.train_set)
            self.model_config = self.model_config.replace(**stats)
        config.model = self.model_config.to_dict()  # what checkpoints and export store

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": self.start_weights(FastPitch(self.model_config))}

    def train_data(self) -> TrainData:
        return TrainData(self.train_set, self.train_set.mels.lengths, self.collate)

    def training_step(
        self, modules: Mapping[str, nn.Module], batch: FastPitchBatch, ctx: StepContext
    ) -> StepOutput:
        utt = batch.utterances
        out = modules["model"](utt.mel, utt.mel_lengths, batch.ids, batch.lengths, batch.pitch)
        terms = {k: getattr(out, k).detach() for k in ("mel", "prior", "duration", "pitch")}
        terms["energy"] = out.energy.detach()
        return StepOutput(out.loss, terms=terms, frames=int(utt.mel_lengths.sum()))

    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """Truth (top) over the synthesis from predicted durations (bottom), and the relative
        frame-count error of the predicted durations."""
        model: FastPitch = modules[self.export_module]
        device = next(model.parameters()).device
        test = (self.prepared / "test.jsonl").is_file()
        item = self._dataset("test" if test else self.config.data.split, False).mels[
            self.config.data.media_index
        ]
        ids, lengths = pad_ids([self.collate.text.encode(item.text)])
        try:
            out = model.synthesize(ids.to(device), lengths.to(device))
        except FlowvoxError:  # predicted durations past max_frames early in training
            sink.scalar("media/frames_error", float("inf"))
            return
        log_duration_media(sink, item.mel, out.mel[0].float().cpu())  # (n, f), (m, f)

    def _dataset(self, split: str, filtered: bool) -> PitchDataset:
        data, config = self.config.data, self.model_config
        encode = self.collate.text.encode if filtered else None
        mels = read_split(
            self.prepared, split, config.mel, encode, config.add_blank,
            data.min_item_frames, data.max_item_frames,
        )  # fmt: skip
        return PitchDataset(mels, self.prepared, config.pitch_config())
