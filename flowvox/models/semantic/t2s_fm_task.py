"""Training task ``t2s_fm``: flow-matching text-to-semantic, three modes by one switch.

Run file (see ``configs/t2s-fm-tiny.yaml``)::

    task: t2s_fm
    mode: supervised            # or text_only, or both
    train: {...}                # flowvox.train.TrainConfig; max_frames counts 25 Hz frames
    model: tiny                 # a T2SFlowConfig preset, {preset: tiny, ...}, or the fields
    loss: {anchor_weight: 1.0, anchor_through: vq}
    data: {tokenizer: runs/semantic-vq/model, prepared: prepared-w16/}
    media: {nfe: 8, cfg: null}

The objectives (``t2s_fm_objective`` has the maths and the rationale of text_only):
    supervised  flow MSE on (text, the frozen tokenizer's pre-VQ embeddings of real audio)
    text_only   NO audio: the decoder's NLL of the text given the one-step estimate x̂₁ from
                a point of the model's own flow; texts from data.texts or a manifest's texts
    both        supervised + anchor_weight · the anchor NLL of the same pass

The tokenizer (``data.tokenizer``, a stage-vq model folder) is a frozen module: no gradient
reaches its parameters, it stays in eval mode, gradients pass through its decoder into the
T2S output. The task fills in the model config what the data decides: the tokenizer's
``emb_dim``, ``codebook_size`` and ``token_rate``, the characters of the training texts
(``charset``) and, with audio, the length rule (``words_per_second``, ``offset_seconds``,
fitted by least squares); text_only has no audio to fit it on, so it needs
``model.words_per_second``, and it trains without text dropout (``cfg_drop_prob`` 0,
``guidance`` 1): there is no unconditional target without audio. With audio the model's
embedding statistics (``emb_mean``, ``emb_std``) are measured on ``data.stats_items``
utterances when the modules are built. The export holds the tokenizer as ``tokenizer/``.
"""
# b: batch, n: semantic frames, d: embedding channels, l: text tokens

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError
from flowvox.models.loading import stamp_family
from flowvox.models.semantic.files import load_tokenizer
from flowvox.models.semantic.model import SemanticTokenizer, text_tokens
from flowvox.models.semantic.t2s_fm_config import T2S_FM_FAMILY, T2SFlowConfig, fit_length_rule
from flowvox.models.semantic.t2s_fm_data import (
    T2SBatch,
    T2SCollate,
    T2SDataConfig,
    TextItem,
    check_sources,
    read_texts,
    read_utterances,
)
from flowvox.models.semantic.t2s_fm_model import T2SFlow, drop_text
from flowvox.models.semantic.t2s_fm_objective import (
    ObjectiveTerms,
    TrainingDraw,
    anchor_nll,
    draw_training,
    supervised_terms,
    text_only_terms,
)
from flowvox.models.semantic.t2s_folder import TOKENIZER_DIR
from flowvox.nn.masks import lengths_to_mask
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData, TrainTask

TOKENIZER_FIELDS = ("emb_dim", "codebook_size", "token_rate")


@dataclass
class T2SLossConfig:
    """λ of mode both, and what the anchor's decoder reads (``t2s_fm_objective``)."""

    anchor_weight: float = 1.0
    anchor_through: Literal["vq", "embeddings"] = "vq"

    def __post_init__(self) -> None:
        if not self.anchor_weight >= 0:
            raise FlowvoxError(f"loss.anchor_weight must be >= 0, got {self.anchor_weight}")


@dataclass
class T2SMediaConfig:
    """The media sample: ``nfe`` Euler steps, guidance ``cfg`` (None: the model's)."""

    nfe: int = 8
    cfg: float | None = None
    seed: int = 0


@dataclass
class T2SFlowTaskConfig:
    """The ``mode``, ``model``, ``loss``, ``data`` and ``media`` sections of a run file."""

    mode: Literal["supervised", "text_only", "both"] = "supervised"
    model: str | dict[str, Any] = "tiny"
    loss: T2SLossConfig = field(default_factory=T2SLossConfig)
    data: T2SDataConfig = field(default_factory=T2SDataConfig)
    media: T2SMediaConfig = field(default_factory=T2SMediaConfig)


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance between the two strings / len(reference) (1 for an empty one)."""
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hypothesis, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(reference), 1)


class T2SFlowTask(TrainTask):
    """Trains ``T2SFlow`` against a frozen ``SemanticTokenizer`` (module docstring)."""

    config_class = T2SFlowTaskConfig
    export_module = "model"

    def __init__(self, config: T2SFlowTaskConfig) -> None:
        super().__init__(config)
        data = config.data
        self.text_only = config.mode == "text_only"
        check_sources(data, self.text_only)
        if not data.tokenizer:
            raise FlowvoxError(
                "data.tokenizer is unset; pass the frozen semantic tokenizer's model folder "
                "(a stage-vq run's model/) as --set data.tokenizer=DIR"
            )
        self.tokenizer = load_tokenizer(data.tokenizer)
        tok = self.tokenizer.config
        model = T2SFlowConfig.from_section(config.model)
        fixed = dict(emb_dim=tok.dim, codebook_size=tok.codebook_size, token_rate=tok.token_rate)
        if config.mode == "text_only":
            fixed.update(cfg_drop_prob=0.0, guidance=1.0)
            if model.words_per_second is None:
                raise FlowvoxError(
                    "mode text_only has no audio to measure the speaking rate on; set "
                    "model.words_per_second (read English: about 2.5; a supervised run on the "
                    "corpus stores the fitted value in its config.json)"
                )
        self.model_config = model.replace(**fixed)
        if self.model_config.charset is None:
            chars = {ch for text in self._texts for ch in text if not ch.isspace()}
            self.model_config = self.model_config.replace(charset="".join(sorted(chars)))
        if self.model_config.words_per_second is None:
            frames, texts = self._mel_lengths, self._texts
            hop_seconds = tok.mel_config.hop_length / tok.mel_config.sample_rate
            wps, offset = fit_length_rule(
                [len(t.split()) for t in texts], [n * hop_seconds for n in frames]
            )
            self.model_config = self.model_config.replace(
                words_per_second=round(wps, 4), offset_seconds=round(offset, 4)
            )
        config.model = self.model_config.to_dict()  # what checkpoints and export store

    # ------------------------------------------------------------------ data
    @cached_property
    def _dataset(self):
        """The utterances (audio modes) or ``TextItem``s (text_only), unfiltered."""
        if self.text_only:
            return [TextItem(t, 0) for t in read_texts(self.config.data)]
        return read_utterances(self.config.data, self.tokenizer.config.mel_config)

    @cached_property
    def _texts(self) -> list[str]:
        dataset = self._dataset
        if self.text_only:
            return [item.text for item in dataset]
        return [entry.text.strip() for entry in dataset.entries]

    @cached_property
    def _mel_lengths(self) -> list[int]:
        """Mel frames of each utterance (audio modes)."""
        return self._dataset.lengths

    @cached_property
    def _kept(self) -> tuple[list[int], list[int]]:
        """Indices of the items that train, and their semantic frames."""
        data, cfg, tok = self.config.data, self.model_config, self.tokenizer.config
        longest = min(data.max_item_frames or cfg.max_frames, cfg.max_frames)
        if self.text_only:
            frames = [cfg.frames_for_text(t) for t in self._texts]
            mels = [0] * len(frames)
        else:
            mels = self._mel_lengths
            frames = [tok.token_frames(n) for n in mels]
        keep = [
            i
            for i, (text, n, mel) in enumerate(zip(self._texts, frames, mels, strict=True))
            if text
            and data.min_item_frames <= n <= longest
            and len(text.encode("utf-8")) <= cfg.max_text_bytes
            and len(text_tokens(text)) <= tok.max_text_tokens
            and mel <= 2 * tok.max_frames
        ]
        if not keep:
            raise FlowvoxError(
                f"data: no {data.split} item has {data.min_item_frames} .. {longest} semantic "
                f"frames and a text of at most {cfg.max_text_bytes} UTF-8 bytes; widen "
                "data.min_item_frames / data.max_item_frames"
            )
        return keep, [frames[i] for i in keep]

    def _item(self, index: int):
        """Item ``index`` of the kept ones, as training sees it."""
        keep, frames = self._kept
        if self.text_only:
            return TextItem(self._dataset[keep[index]].text, frames[index])
        return self._dataset[keep[index]]

    def train_data(self) -> TrainData:
        keep, frames = self._kept
        dataset = self._dataset
        if self.text_only:
            dataset = [TextItem(dataset[i].text, n) for i, n in zip(keep, frames, strict=True)]
        else:
            dataset = torch.utils.data.Subset(dataset, keep)
        collate = T2SCollate(self.model_config.max_text_bytes, self.tokenizer.config.token_frames)
        return TrainData(dataset, frames, collate)

    # ------------------------------------------------------------------ modules
    def build_modules(self) -> dict[str, nn.Module]:
        model = T2SFlow(self.model_config)
        if not self.text_only:
            model.set_embedding_stats(*self._embedding_stats())
        tokenizer = self.tokenizer.requires_grad_(False).eval()
        return {"model": model, "tokenizer": tokenizer}

    @torch.no_grad()
    def _embedding_stats(self) -> tuple[Tensor, Tensor]:
        """Per-channel mean and std (d,) of the embeddings of ``stats_items`` kept
        utterances spread evenly over the data (frozen encoder, real frames only)."""
        keep, _ = self._kept
        wanted = max(1, self.config.data.stats_items)
        chosen = keep[:: max(1, len(keep) // wanted)][:wanted]
        collate = T2SCollate(self.model_config.max_text_bytes, self.tokenizer.config.token_frames)
        total = torch.zeros(self.model_config.emb_dim, dtype=torch.float64)
        square, count = torch.zeros_like(total), 0
        for start in range(0, len(chosen), 16):
            batch = collate([self._dataset[i] for i in chosen[start : start + 16]])
            enc = self.tokenizer.encode(batch.mel, batch.mel_lengths)
            real = enc.emb[enc.mask].double()  # (frames, d)
            total += real.sum(0)
            square += real.square().sum(0)
            count += real.shape[0]
        mean = total / count
        std = (square / count - mean.square()).clamp(min=0).sqrt()
        return mean.float(), std.float()

    # ------------------------------------------------------------------ step
    def training_step(
        self, modules: Mapping[str, nn.Module], batch: T2SBatch, ctx: StepContext
    ) -> StepOutput:
        terms = self.objective(modules, batch, ctx.device_generator, ctx.device)
        logged: dict[str, Tensor | float] = {}
        if terms.flow is not None:
            logged["flow"] = terms.flow.detach()
        if terms.anchor is not None:
            logged["anchor_nll"] = terms.anchor.detach()
        return StepOutput(terms.loss, terms=logged, frames=int(batch.frames.sum()))

    def objective(
        self,
        modules: Mapping[str, nn.Module],
        batch: T2SBatch,
        generator: torch.Generator,
        device: torch.device | str,
        draw: TrainingDraw | None = None,
    ) -> ObjectiveTerms:
        """The mode's loss on ``batch`` (``draw`` fixes the randomness; else ``generator``)."""
        wrapped, tokenizer = modules["model"], modules["tokenizer"]
        model: T2SFlow = getattr(wrapped, "module", wrapped)  # DDP keeps it in .module
        cfg, mode = self.model_config, self.config.mode
        x_1 = None
        if self.text_only:
            mask = lengths_to_mask(batch.frames, int(batch.frames.max()))  # (b, n)
        else:
            with torch.no_grad():
                enc = tokenizer.encode(batch.mel, batch.mel_lengths)
            mask = enc.mask
            x_1 = model.normalize(enc.emb).masked_fill(~mask[..., None], 0.0)  # (b, n, d)
        shape = torch.Size((*mask.shape, cfg.emb_dim))
        draw = draw or draw_training(shape, cfg.cfg_drop_prob, generator, device)
        draw = TrainingDraw(draw.x_0.masked_fill(~mask[..., None], 0.0), draw.t, draw.drop)
        ids, lengths = drop_text(batch.text_ids, batch.text_lengths, draw.drop)

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            return wrapped(x, t, ids, lengths, mask)

        targets = batch.dec_targets.masked_fill(draw.drop[:, None], -100)  # dropped: no anchor

        def anchor(x_hat: Tensor) -> Tensor:
            emb = model.denormalize(x_hat)
            through = self.config.loss.anchor_through
            return anchor_nll(tokenizer, emb, mask, batch.dec_inputs, targets, through)

        if self.text_only:
            return text_only_terms(velocity, draw, anchor)
        weight = self.config.loss.anchor_weight
        return supervised_terms(
            velocity, x_1, mask, draw, cfg.sigma_min,
            anchor if mode == "both" else None, weight,
        )  # fmt: skip

    # ------------------------------------------------------------------ media
    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """The media item's text through T2S (media nfe, cfg, seed; its frames by the rule
        or, with audio, the real count), its codes and the frozen decoder:
        ``t2s/round_trip_exact`` (1 when the text comes back) and ``t2s/round_trip_cer``."""
        model: T2SFlow = modules[self.export_module]
        tokenizer: SemanticTokenizer = modules["tokenizer"]
        media = self.config.media
        item = self._item(self.config.data.media_index)
        if self.text_only:
            frames = item.frames
        else:
            frames = self._kept[1][self.config.data.media_index]
        out = model.sample([item.text], [frames], media.nfe, media.cfg, [media.seed])
        codes = tokenizer.quantize(out.emb, out.mask).codes
        sem = tokenizer.dequantize(codes)
        text = tokenizer.transcribe(sem.emb, sem.mask)[0]
        sink.scalar("t2s/round_trip_exact", float(text == item.text))
        sink.scalar("t2s/round_trip_cer", char_error_rate(item.text, text))

    # ------------------------------------------------------------------ export
    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run file with the family stamp and the model's fields as ``model``."""
        return stamp_family({**run_dict, "model": self.model_config.to_dict()}, T2S_FM_FAMILY)

    def export_files(self, out_dir: Path) -> None:
        """The frozen tokenizer's folder as ``tokenizer/``."""
        shutil.copytree(self.config.data.tokenizer, Path(out_dir) / TOKENIZER_DIR)
