"""Training task ``aligned_tts`` (Matcha / VoiceBox style).

Run file (see ``configs/aligned-tiny.yaml``)::

    task: aligned_tts
    train: {...}                       # flowvox.train.TrainConfig
    model: tiny                        # a preset name, {preset: tiny, dim: 96, ...},
                                       # or every AlignedTTSConfig field
    data: {prepared: prepared/, split: train}
    media: {nfe: 8, cfg: 0.7}          # a sample logged every train.media_every steps
    init_from: runs/x/model            # optional: start from a model folder (reflow, or
                                       # fine-tuning, its vocab extended: models/finetune.py)

One step (random numbers from ``ctx.generator``, so a resumed run repeats them):
MAS durations, then loss = flow + w_p prior + w_d duration (``AlignedTTS.forward``).
With ``model.cond_dim: 256`` each utterance is conditioned on the resemblyzer d-vector of
another utterance of its speaker, drawn after the step's other random choices; the d-vectors
are computed at the first start and cached in the prepared folder (``flowvox.data.dvectors``).
With ``data.reflow_pairs: DIR`` the batches are stored (x_0, x_1) pairs (``flowvox reflow
pairs``; mel = x_1) and x_0 replaces the noise draw (``flowvox.models.aligned.reflow``).
Utterances with fewer frames than encoder tokens (blanks included) cannot be aligned and are
left out.

The exported directory holds ``model.safetensors`` (AlignedTTS state dict), ``config.json``
(the run config with the resolved model section) and ``vocab.txt`` (tokenizer "char").
"""
# b: batch, n: mel frames, f: mel bins, l: text tokens

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from flowvox.audio.dvector import DVECTOR_DIM
from flowvox.data.dataset import MelDataset
from flowvox.data.dvectors import SpeakerVectors, cached_dvectors, speaker_vectors
from flowvox.errors import FlowvoxError
from flowvox.models.aligned.config import ALIGNED_FAMILY, AlignedTTSConfig
from flowvox.models.aligned.inputs import AlignedBatch, AlignedCollate
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.aligned.reflow import ReflowCollate, ReflowPairDataset
from flowvox.models.finetune import NewRows
from flowvox.models.loading import resolve_model_section
from flowvox.models.prepared_data import PreparedDataConfig, read_split
from flowvox.models.tts_task import TTSTask
from flowvox.nn.masks import pad_ids
from flowvox.train.media import log_duration_media
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData


@dataclass
class AlignedDataConfig(PreparedDataConfig):
    """``PreparedDataConfig`` (media: an item of the "test" split, else of ``split``) plus:"""

    reflow_pairs: str | None = None  # a `flowvox reflow pairs` folder: train on (x_0, x_1)


@dataclass
class AlignedMediaConfig:
    nfe: int = 8
    cfg: float = 0.7  # F5 guidance weight (0: off)
    seed: int = 0


@dataclass
class AlignedTaskConfig:
    """The ``model``, ``data`` and ``media`` sections of an ``aligned_tts`` run file, and the
    fine-tuning keys."""

    model: str | dict[str, Any] | None = None  # None: "tiny", or init_from's model
    data: AlignedDataConfig = field(default_factory=AlignedDataConfig)
    media: AlignedMediaConfig = field(default_factory=AlignedMediaConfig)
    # fine-tuning (flowvox.models.finetune): a model folder of this family starts the run
    init_from: str | None = None
    new_tokens: list[str] | None = None  # symbols appended to its vocab (None: the data's)
    new_rows: NewRows = "matched"  # their embedding rows: "matched" or "normal" (F5's)


def resolve_model_config(model: str | Mapping[str, Any], vocab_size: int) -> AlignedTTSConfig:
    """``model`` section (preset name, {preset: ..., overrides}, or fields) -> config with
    ``text_vocab_size`` = ``vocab_size`` (``flowvox.models.loading``)."""
    return resolve_model_section(AlignedTTSConfig, model, vocab_size)


class AlignedTTSTask(TTSTask):
    """MAS-aligned flow matching for ``AlignedTTS`` (see the module docstring)."""

    config_class = AlignedTaskConfig
    family = ALIGNED_FAMILY

    def __init__(self, config: AlignedTaskConfig):
        super().__init__(config)
        self.collate = AlignedCollate(self.text)
        cond_dim = self.model_config.cond_dim
        if cond_dim not in (0, DVECTOR_DIM):
            raise FlowvoxError(
                f"model.cond_dim={cond_dim}: the speaker d-vectors (resemblyzer) have "
                f"{DVECTOR_DIM} channels; set {DVECTOR_DIM}, or 0 for no speaker vector"
            )
        if cond_dim and config.data.reflow_pairs:
            raise FlowvoxError(
                "data.reflow_pairs with model.cond_dim > 0: reflow pairs hold no speaker "
                "vectors; set model.cond_dim: 0 or drop data.reflow_pairs"
            )
        self.speakers: SpeakerVectors | None = None  # the training d-vectors (cond_dim > 0)
        self._media_spk: torch.Tensor | None = None
        config.model = self.model_config.to_dict()  # what checkpoints and export store

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": self.start_weights(AlignedTTS(self.model_config))}

    def train_data(self) -> TrainData:
        if self.config.data.reflow_pairs:  # (x_0, x_1) pairs: see flowvox.models.aligned.reflow
            data = self.config.data
            pairs = ReflowPairDataset(
                data.reflow_pairs, self.model_config.mel_dim, data.min_item_frames
            )
            return TrainData(pairs, pairs.lengths, ReflowCollate(self.collate))
        dataset = self._dataset(self.config.data.split, filtered=True)
        if self.model_config.cond_dim > 0:
            self.speakers = speaker_vectors(self.prepared, dataset.entries)
        return TrainData(dataset, dataset.lengths, self.collate)

    def training_step(
        self, modules: Mapping[str, nn.Module], batch: AlignedBatch, ctx: StepContext
    ) -> StepOutput:
        wrapped = modules["model"]
        model: AlignedTTS = getattr(wrapped, "module", wrapped)  # DDP keeps it in .module
        mel, lengths = batch.utterances.mel, batch.utterances.mel_lengths  # (b, n, f), (b,)
        draw = model.draw_training(lengths, mel.shape[1], ctx.generator, mel.dtype)
        if batch.x_0 is not None:  # reflow: the stored noise of x_1 = mel replaces the draw
            draw = dataclasses.replace(draw, x_0=batch.x_0.to(draw.x_0))
        spk = None
        if self.model_config.cond_dim > 0:  # another utterance's d-vector, same speaker
            assert self.speakers is not None, "train_data() builds the speaker vectors"
            spk = self.speakers.draw(batch.utterances.indices, ctx.generator).to(mel)  # (b, c)
        out = wrapped(mel, lengths, batch.ids, batch.lengths, draw, spk)
        terms = {"flow": out.flow.detach(), "prior": out.prior.detach()}
        terms["duration"] = out.duration.detach()
        return StepOutput(out.loss, terms=terms, frames=int(lengths.sum()))

    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """Truth (top) over the sample from predicted durations (bottom), each its own width,
        and the frame-count error of the predicted durations."""
        model: AlignedTTS = modules[self.export_module]
        device = next(model.parameters()).device
        item = self._media_dataset()[self.config.data.media_index]
        ids, lengths = pad_ids([self.collate.encode(item.text)])
        media = self.config.media
        gen = torch.Generator().manual_seed(media.seed)
        spk = None  # the media utterance's own d-vector (cond_dim > 0), read once
        if self.model_config.cond_dim > 0:
            if self._media_spk is None:
                self._media_spk = cached_dvectors(self.prepared, [item.audio_path])  # (1, c)
            spk = self._media_spk.to(device)
        try:
            out = model.synthesize(
                ids.to(device), lengths.to(device), spk=spk, nfe=media.nfe, cfg=media.cfg,
                generator=gen,
            )  # fmt: skip
        except FlowvoxError:  # predicted durations past max_frames early in training
            sink.scalar("media/frames_error", float("inf"))
            return
        log_duration_media(sink, item.mel, out.mel[0].float().cpu())  # (n, f), (m, f)

    def _media_dataset(self) -> MelDataset:
        test = (self.prepared / "test.jsonl").is_file()
        return self._dataset("test" if test else self.config.data.split, filtered=False)

    def _dataset(self, split: str, filtered: bool) -> MelDataset:
        data, config = self.config.data, self.model_config
        encode = self.collate.encode if filtered else None
        return read_split(
            self.prepared, split, config.mel, encode, config.add_blank,
            data.min_item_frames, data.max_item_frames,
        )  # fmt: skip
