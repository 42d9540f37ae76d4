"""Training task ``infill_tts``: F5-TTS / E2-TTS span infilling on a prepared dataset.

Run file (see ``configs/infill-*.yaml``)::

    task: infill_tts
    train: {...}                       # flowvox.train.TrainConfig
    model: tiny                        # a preset name, or {preset: tiny, dim: 96, ...},
                                       # or every InfillTTSConfig field
    data: {prepared: prepared/, split: train}
    media: {nfe: 8, cfg: 2.0}          # samples logged every train.media_every steps
    init_from: models/f5               # optional: fine-tune that model folder, its vocab
                                       # extended (flowvox.models.finetune)

One step, per utterance of the batch (all random numbers from ``ctx.generator``, so a
resumed run repeats them): a contiguous span of 70-100 % of the frames is hidden, the audio
prompt (the rest) is dropped with p = ``audio_drop_prob`` and prompt and text together with
p = ``cond_drop_prob``; x_t = (1 - (1 - σ) t) x_0 + t x_1 and

    loss = Σ_span (v_θ(x_t, cond, text, t) - (x_1 - (1 - σ) x_0))² / (span frames · f)

With ``model.cond_dim: 256`` each utterance is conditioned on the resemblyzer d-vector of
another utterance of its speaker, drawn after the step's other random choices; the d-vectors
are computed at the first start and cached in the prepared folder (``flowvox.data.dvectors``).

The resolved model config (preset expanded, ``text_vocab_size`` from the vocab) replaces
the ``model`` section, so checkpoints and the exported ``config.json`` hold every field.
Models are read back with ``load_infill_model`` (``flowvox.models.infill.load``).
"""
# b: batch, n: mel frames, f: mel bins, l: text tokens

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from flowvox.audio.dvector import DVECTOR_DIM
from flowvox.data.dataset import Batch, MelDataset, Utterance, collate_utterances
from flowvox.data.dvectors import SpeakerVectors, cached_dvectors, speaker_vectors
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.flow import OTCFMPath, flow_matching_loss
from flowvox.models.finetune import NewRows
from flowvox.models.infill.config import INFILL_FAMILY, InfillTTSConfig
from flowvox.models.infill.load import LoadedInfillModel, load_infill_model
from flowvox.models.infill.media import MediaConfig, log_infill_media
from flowvox.models.infill.model import InfillTTS
from flowvox.models.loading import resolve_model_section
from flowvox.models.prepared_data import PreparedDataConfig
from flowvox.models.training_text import TrainingText
from flowvox.models.tts_task import TTSTask
from flowvox.nn.masks import lengths_to_mask, pad_token_ids
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData

__all__ = [
    "InfillBatch",
    "InfillDataConfig",
    "InfillTaskConfig",
    "InfillTTSTask",
    "LoadedInfillModel",
    "load_infill_model",
    "resolve_model_config",
]


@dataclass
class InfillDataConfig(PreparedDataConfig):
    """``PreparedDataConfig`` plus the media utterance's split: ``media_split``, or None for
    "test" if present, else the training split (then it is not held out)."""

    media_split: str | None = None


@dataclass
class InfillTaskConfig:
    """The ``model``, ``data`` and ``media`` sections of an ``infill_tts`` run file, and the
    fine-tuning keys."""

    model: str | dict[str, Any] | None = None  # None: "tiny", or init_from's model
    data: InfillDataConfig = field(default_factory=InfillDataConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    # fine-tuning (flowvox.models.finetune): a model folder of this family starts the run
    init_from: str | None = None
    new_tokens: list[str] | None = None  # symbols appended to its vocab (None: the data's)
    new_rows: NewRows = "matched"  # their embedding rows: "matched" or "normal" (F5's)


@dataclass
class InfillBatch:
    """Padded utterances and their text ids."""

    utterances: Batch  # mel (b, n, f), mel_lengths (b,), mask (b, n), texts ...
    text_ids: Tensor  # (b, l) int64 padded with -1

    def to(self, device: torch.device | str) -> InfillBatch:
        return InfillBatch(self.utterances.to(device), self.text_ids.to(device))


class InfillCollate:
    """Pads utterances (``collate_utterances``) and tokenizes their texts (picklable)."""

    def __init__(self, text: TrainingText):
        self.text = text

    def __call__(self, items: Sequence[Utterance]) -> InfillBatch:
        batch = collate_utterances(items)
        ids = [self.text.encode(text) or [0] for text in batch.texts]
        return InfillBatch(batch, pad_token_ids(ids))


def resolve_model_config(model: str | Mapping[str, Any], vocab_size: int) -> InfillTTSConfig:
    """``model`` section -> ``InfillTTSConfig`` with ``text_vocab_size`` = ``vocab_size``.

    A string is a preset name; a mapping with ``preset`` is that preset with the other keys
    as overrides; any other mapping holds the fields themselves (``flowvox.models.loading``).
    """
    return resolve_model_section(InfillTTSConfig, model, vocab_size)


class InfillTTSTask(TTSTask):
    """Span-infilling flow matching for ``InfillTTS`` (see the module docstring)."""

    config_class = InfillTaskConfig
    family = INFILL_FAMILY

    def __init__(self, config: InfillTaskConfig):
        super().__init__(config, media_split=config.data.media_split or "test")
        cond_dim = self.model_config.cond_dim
        if cond_dim not in (0, DVECTOR_DIM):
            raise FlowvoxError(
                f"model.cond_dim={cond_dim}: the speaker d-vectors (resemblyzer) have "
                f"{DVECTOR_DIM} channels; set {DVECTOR_DIM}, or 0 for no speaker vector"
            )
        config.model = self.model_config.to_dict()  # what checkpoints and export store
        self._media_item: tuple[Tensor, Tensor] | None = None
        self.speakers: SpeakerVectors | None = None  # the training d-vectors (cond_dim > 0)
        self._media_spk: Tensor | None = None  # (1, k) the media utterance's own d-vector

    # ------------------------------------------------------------------ trainer contract
    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": self.start_weights(InfillTTS(self.model_config))}

    def train_data(self) -> TrainData:
        dataset = self._dataset(self.config.data.split, filtered=True)
        if self.model_config.cond_dim > 0:
            self.speakers = speaker_vectors(self.prepared, dataset.entries)
        return TrainData(dataset, dataset.lengths, InfillCollate(self.text))

    def training_step(
        self, modules: Mapping[str, nn.Module], batch: InfillBatch, ctx: StepContext
    ) -> StepOutput:
        """One span-infilling loss (``InfillTTS.loss`` through the wrapped module, so DDP
        synchronises gradients)."""
        wrapped = modules["model"]
        model: InfillTTS = getattr(wrapped, "module", wrapped)  # DDP keeps it in .module
        utt = batch.utterances
        mel, lengths = utt.mel, utt.mel_lengths  # (b, n, f), (b,)
        model._check_batch(mel, lengths, batch.text_ids)
        draw = model.draw_training(lengths, mel.shape[1], ctx.generator, mel.dtype)
        spk = None
        if self.model_config.cond_dim > 0:  # another utterance's d-vector, same speaker
            assert self.speakers is not None, "train_data() builds the speaker vectors"
            spk = self.speakers.draw(utt.indices, ctx.generator).to(mel)  # (b, k)
        valid = lengths_to_mask(lengths, mel.shape[1])  # (b, n)
        path = OTCFMPath(sigma_min=self.model_config.sigma_min).sample(draw.x_0, mel, draw.t)
        cond = mel.masked_fill(draw.span_mask[..., None], 0.0)  # (b, n, f) prompt only
        drops = (draw.drop_audio, draw.drop_text)
        pred = wrapped(path.x_t, cond, batch.text_ids, draw.t, valid, *drops, spk)  # (b, n, f)
        counted = draw.span_mask & valid  # (b, n)
        loss = flow_matching_loss(pred, path.u_t, counted)
        span = counted.sum().float() / valid.sum().clamp(min=1)
        return StepOutput(loss, terms={"span_fraction": float(span)}, frames=int(lengths.sum()))

    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """Ground truth vs generated mel of a fixed utterance, its audio (Griffin-Lim) and
        the first attention layer's map; see ``flowvox.models.infill.media``."""
        mel, text_ids = self.media_item()
        model = modules[self.export_module]
        device = next(model.parameters()).device
        spk = None if self._media_spk is None else self._media_spk.to(device)
        log_infill_media(model, mel.to(device), text_ids.to(device), self.config.media, sink, spk)

    # ------------------------------------------------------------------ data
    def media_item(self) -> tuple[Tensor, Tensor]:
        """The media utterance: mel (n, f) and text ids (1, l)."""
        if self._media_item is None:
            data = self.config.data
            split = data.media_split
            if split is None:
                split = "test" if (self.prepared / "test.jsonl").is_file() else data.split
            dataset = self._dataset(split, filtered=False)
            if not 0 <= data.media_index < len(dataset):
                raise FlowvoxError(
                    f"data.media_index={data.media_index} is outside split {split!r} "
                    f"({len(dataset)} utterances); choose 0 .. {len(dataset) - 1}"
                )
            item = dataset[data.media_index]
            ids = pad_token_ids([self.text.encode(item.text) or [0]])  # (1, l)
            self._media_item = (item.mel, ids)
            if self.model_config.cond_dim > 0:
                self._media_spk = cached_dvectors(self.prepared, [item.audio_path])  # (1, k)
        return self._media_item

    def _dataset(self, split: str, filtered: bool) -> MelDataset:
        manifest = self.prepared / f"{split}.jsonl"
        if not manifest.is_file():
            raise FlowvoxError(
                f"{self.prepared}: no {split}.jsonl; set data.split (or data.media_split) to "
                "a split this prepared folder has"
            )
        entries = read_manifest(manifest)
        if filtered:
            data = self.config.data
            probe = MelDataset(entries, self.model_config.mel, cache_dir=self.prepared)
            longest = data.max_item_frames or float("inf")
            entries = [
                e
                for e, n in zip(entries, probe.lengths, strict=True)
                if data.min_item_frames <= n <= longest and e.text.strip()
            ]
            if not entries:
                raise FlowvoxError(
                    f"{manifest}: no utterance has {data.min_item_frames} .. {longest} frames "
                    "and a text; widen data.min_item_frames / data.max_item_frames"
                )
        return MelDataset(entries, self.model_config.mel, cache_dir=self.prepared)
