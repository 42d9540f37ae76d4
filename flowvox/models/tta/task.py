"""Training task ``tta_lfm``: the latent text-to-audio flow model (LAFMA objective).

Run file (see ``configs/tta-lfm-tiny.yaml``)::

    task: tta_lfm
    train: {...}                       # flowvox.train.TrainConfig (max_frames: latent frames)
    model: tiny                        # a preset name, {preset: tiny, ...}, or the fields
    data: {prepared: latents/, split: train}
    media: {steps: 10, cfg: 3.0}       # one sampled latent logged every train.media_every

Data, two forms:
- a latent folder: ``<split>.jsonl`` manifest lines whose ``extra`` holds ``latent`` (an
  ``.npy`` file of float32 (C, T, F), relative to the folder, already scaled) and
  ``latent_frames``; the caption is the line's ``text`` (``write_latent_split`` writes one);
- a ``flowvox prepare`` folder of mels plus ``data.vae: DIR``, a mel VAE folder
  (``flowvox.models.tta.vae``) whose encoder turns the mels into latents: by default each
  clip once, its posterior mean · scaling_factor kept in memory (``data.cache_latents``);
  with ``cache_latents: false`` every batch again, z = (mean + exp(logvar / 2) ε) ·
  scaling_factor, ε from the step's generator.

One step: ``LatentFlow.loss`` (flow or diffusion, per-sample caption dropout). The exported
folder holds ``model.safetensors``, the stamped ``config.json`` (family "tta") and, for the
"char" tokenizer, ``vocab.txt``.
"""
# b: batch, c: latent channels, t: latent frames, f: latent freq bins, n: mel frames, m: mels

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.audio.mel import get_mel_preset
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.models.loading import (
    resolve_model_section,
    section_tokenizer,
    stamp_family,
    tokenizer_for,
)
from flowvox.models.prepared_data import read_split
from flowvox.models.tta.config import TTA_FAMILY, LatentFlowConfig
from flowvox.models.tta.model import LatentFlow
from flowvox.models.tta.text import caption_batch
from flowvox.models.tta.vae import MelVAE
from flowvox.text.tokenizers import CharTokenizer
from flowvox.train.task import MediaSink, StepContext, StepOutput, TrainData, TrainTask

LATENT_FRAME_RATIO = 4  # mel frames per latent frame without a VAE config (the LAFMA VAE)


@dataclass
class LatentDataConfig:
    """Where the training latents (or mels + a VAE) come from; frames count latent frames."""

    prepared: str | None = None  # a latent folder, or a prepared mel folder with ``vae``
    split: str = "train"
    vae: str | None = None  # a mel VAE folder: encode mels to latents on the fly
    # with ``vae``: encode each clip once (its posterior mean) and keep it in memory; false:
    # encode every batch again and draw from the posterior (z = mean + std · eps)
    cache_latents: bool = True
    vocab: str | None = None  # vocab file for tokenizer "char" (None: <prepared>/vocab.txt)
    min_item_frames: int = 1
    max_item_frames: int | None = None
    # model.latent_norm "per_bin": measure the per-bin mean / std on this many clips of the
    # split (evenly spaced; all when fewer), posterior means of the VAE
    norm_clips: int = 256
    media_index: int = 0  # the media caption and length: this item of ``split``


@dataclass
class LatentMediaConfig:
    steps: int = 10
    cfg: float = 3.0  # diffusers / LAFMA form, 1: off
    seed: int = 0
    caption: str | None = None  # None: the media item's caption


@dataclass
class LatentFlowTaskConfig:
    """The ``model``, ``data`` and ``media`` sections of a ``tta_lfm`` run file."""

    model: str | dict[str, Any] = "tiny"
    data: LatentDataConfig = field(default_factory=LatentDataConfig)
    media: LatentMediaConfig = field(default_factory=LatentMediaConfig)


@dataclass
class LatentItem:
    """latent: (c, t, f), or mel: (n, m) when a VAE encodes it; caption: its text."""

    caption: str
    latent: Tensor | None = None
    mel: Tensor | None = None


@dataclass
class LatentBatch:
    """latents (b, c, t, f) or mels (b, n, m) (n a multiple of 4) with lengths (b,) in latent
    frames; caption ids (b, l) and mask (b, l)."""

    lengths: Tensor
    caption_ids: Tensor
    caption_mask: Tensor
    latents: Tensor | None = None
    mels: Tensor | None = None

    def to(self, device: torch.device | str) -> LatentBatch:
        def move(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.to(device)

        return LatentBatch(
            self.lengths.to(device), self.caption_ids.to(device), self.caption_mask.to(device),
            move(self.latents), move(self.mels),
        )  # fmt: skip


def write_latent_split(
    folder: str | Path, split: str, latents: Sequence[Tensor], captions: Sequence[str]
) -> Path:
    """Write ``folder/<split>.jsonl`` and ``folder/latents/<split>-<i>.npy`` of latents
    (c, t, f) with their captions; returns the manifest."""
    folder = Path(folder)
    (folder / "latents").mkdir(parents=True, exist_ok=True)
    manifest = folder / f"{split}.jsonl"
    with manifest.open("w", encoding="utf-8") as fh:
        for i, (z, caption) in enumerate(zip(latents, captions, strict=True)):
            name = f"latents/{split}-{i}.npy"
            np.save(folder / name, z.detach().float().cpu().numpy())
            extra = {"latent": name, "latent_frames": int(z.shape[1])}
            line = {"audio": name, "text": caption, "split": split, "extra": extra}
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return manifest


class LatentFolder(torch.utils.data.Dataset):
    """The items of a latent folder's ``<split>.jsonl`` (see the module docstring)."""

    def __init__(self, folder: Path, split: str, config: LatentFlowConfig) -> None:
        manifest = folder / f"{split}.jsonl"
        if not manifest.is_file():
            raise FlowvoxError(f"{folder}: no {split}.jsonl; set data.split to a split it has")
        self.folder, self.config = folder, config
        self.entries = [e for e in read_manifest(manifest) if "latent" in e.extra]
        if not self.entries:
            raise FlowvoxError(f"{manifest}: no line has extra.latent; write it with a VAE")
        self.lengths = [int(e.extra["latent_frames"]) for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> LatentItem:
        entry = self.entries[index]
        z = torch.from_numpy(np.load(self.folder / entry.extra["latent"], allow_pickle=False))
        c, f = self.config.latent_channels, self.config.latent_freq
        if z.ndim != 3 or z.shape[0] != c or z.shape[2] != f:
            raise FlowvoxError(
                f"{entry.extra['latent']}: shape {tuple(z.shape)}, not ({c}, T, {f})"
            )
        return LatentItem(entry.text, latent=z.float())


class LatentCollate:
    """Items -> ``LatentBatch``: latents (or mels) zero-padded, captions encoded."""

    def __init__(self, encode, max_tokens: int, ratio: int = LATENT_FRAME_RATIO) -> None:
        self.encode, self.max_tokens, self.ratio = encode, max_tokens, ratio

    def __call__(self, items: Sequence[LatentItem]) -> LatentBatch:
        ids, mask = caption_batch(self.encode, [i.caption for i in items], self.max_tokens)
        if items[0].latent is not None:
            t = max(i.latent.shape[1] for i in items)
            latents = torch.stack(
                [F.pad(i.latent, (0, 0, 0, t - i.latent.shape[1])) for i in items]
            )
            lengths = torch.tensor([i.latent.shape[1] for i in items])
            return LatentBatch(lengths, ids, mask, latents=latents)  # (b, c, t, f)
        n = max(i.mel.shape[0] for i in items)
        n = math.ceil(n / self.ratio) * self.ratio
        mels = torch.stack([F.pad(i.mel, (0, 0, 0, n - i.mel.shape[0])) for i in items])
        lengths = torch.tensor([math.ceil(i.mel.shape[0] / self.ratio) for i in items])
        return LatentBatch(lengths, ids, mask, mels=mels)  # (b, n, m)


def _load_vae(path: str) -> nn.Module:
    """The mel VAE of folder ``path`` (``flowvox.models.tta.vae.MelVAE``), frozen."""
    return MelVAE.from_pretrained(path).requires_grad_(False)


class _MelItems(torch.utils.data.Dataset):
    """A prepared mel folder's utterances as ``LatentItem`` (mel, caption)."""

    def __init__(self, mels) -> None:
        self.mels = mels

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, index: int) -> LatentItem:
        item = self.mels[index]
        return LatentItem(item.text, mel=item.mel)


def encode_mean_latent(vae: MelVAE, mel: Tensor, scale: float) -> Tensor:
    """A mel (n, m) -> its posterior-mean latent · ``scale`` (c, t, f) on the CPU, the mel
    zero-padded to a multiple of the VAE's factor r as ``LatentCollate`` pads it."""
    r = vae.config.downsample_factor
    mel = F.pad(mel, (0, 0, 0, math.ceil(mel.shape[0] / r) * r - mel.shape[0]))
    device = next(vae.parameters()).device
    with torch.no_grad():
        mean = vae.encode(mel[None].to(device)).mean[0]  # (c, t, f)
    return (mean * scale).cpu()


class _CachedLatentItems(torch.utils.data.Dataset):
    """A prepared mel folder's utterances as ``LatentItem`` (scaled latent, caption): each
    mel is encoded by the VAE the first time it is asked for (posterior mean · scale, the
    mel zero-padded to a multiple of r frames as ``LatentCollate`` pads it) and kept. The
    bundled VAE's posterior std is ~0.3 % of its latents' spread, so the mean stands for a
    draw; encoding once makes a CPU step ~5x cheaper (the encoder costs more than the DiT)."""

    def __init__(self, mels, vae: MelVAE, scale: float) -> None:
        self.mels, self.vae, self.scale = mels, vae, scale
        self.cache: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, index: int) -> LatentItem:
        item = self.mels[index]
        if index not in self.cache:
            self.cache[index] = encode_mean_latent(self.vae, item.mel, self.scale)
        return LatentItem(item.text, latent=self.cache[index])


class LatentFlowTask(TrainTask):
    """Trains ``LatentFlow`` on latents (or mels + VAE); see the module docstring."""

    config_class = LatentFlowTaskConfig
    family = TTA_FAMILY
    export_module = "model"

    def __init__(self, config: LatentFlowTaskConfig) -> None:
        super().__init__(config)
        data = config.data
        if not data.prepared or not Path(data.prepared).is_dir():
            raise FlowvoxError(
                f"data.prepared={data.prepared!r} is not a folder; pass a latent folder (or a "
                "prepared mel folder with data.vae) as --set data.prepared=DIR"
            )
        self.prepared = Path(data.prepared)
        name = section_tokenizer(LatentFlowConfig, config.model)
        vocab = None if name == "byte" else Path(data.vocab or self.prepared / "vocab.txt")
        self.tokenizer = tokenizer_for(name, vocab)
        model_config = resolve_model_section(
            LatentFlowConfig, config.model, self.tokenizer.vocab_size
        )
        self.vae = _load_vae(data.vae) if data.vae else None
        if self.vae is not None:  # the exported model records the VAE's latent scaling
            model_config = model_config.replace(
                scaling_factor=float(self.vae.config.scaling_factor)
            )
        self.ratio = self.vae.config.downsample_factor if self.vae else LATENT_FRAME_RATIO
        self.model_config = model_config
        if model_config.latent_norm == "per_bin" and not model_config.has_latent_statistics:
            mean, std = self._measure_latent_statistics(data.norm_clips)
            model_config = model_config.replace(latent_mean=mean, latent_std=std)
            self.model_config = model_config
        config.model = model_config.to_dict()  # what checkpoints and export store
        self.collate = LatentCollate(
            self.tokenizer.encode, model_config.max_caption_tokens, self.ratio
        )

    def build_modules(self) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = {"model": LatentFlow(self.model_config)}
        if self.vae is not None:
            modules["vae"] = self.vae
        return modules

    @cached_property
    def dataset(self) -> torch.utils.data.Dataset:
        """The split's items (read on first use: export needs none of them)."""
        data = self.config.data
        if self.vae is None:
            return LatentFolder(self.prepared, data.split, self.model_config)
        mel_config = get_mel_preset(self.vae.config.mel)
        mels = read_split(self.prepared, data.split, mel_config)
        if data.cache_latents:
            return _CachedLatentItems(mels, self.vae, self.model_config.scaling_factor)
        return _MelItems(mels)

    def _measure_latent_statistics(self, clips: int) -> tuple[list[float], list[float]]:
        """Mean and std per (channel, freq bin) over every frame of ``clips`` evenly spaced
        training clips (posterior means · scaling), channel-major, rounded to 5 decimals
        so that a resumed run measures the same numbers."""
        n = len(self.dataset)
        if clips < 1 or n == 0:
            raise FlowvoxError(f"data.norm_clips={clips}: per_bin needs at least 1 clip")
        picks = np.unique(np.linspace(0, n - 1, min(clips, n)).round().astype(int))
        frames = []  # (t, c, f) per clip
        for index in picks.tolist():
            item = self.dataset[index]
            latent = item.latent
            if latent is None:  # mels encoded every batch (cache_latents: false)
                latent = encode_mean_latent(self.vae, item.mel, self.model_config.scaling_factor)
            frames.append(latent.permute(1, 0, 2).double())
        z = torch.cat(frames)  # (sum t, c, f)
        mean, std = z.mean(0), z.std(0, unbiased=False).clamp_min(1e-4)  # (c, f)
        return (
            [round(float(v), 5) for v in mean.flatten()],
            [round(float(v), 5) for v in std.flatten()],
        )

    def train_data(self) -> TrainData:
        data = self.config.data
        dataset = self.dataset
        lengths = getattr(dataset, "lengths", None) or [
            math.ceil(n / self.ratio) for n in dataset.mels.lengths
        ]
        longest = data.max_item_frames or math.inf
        keep = [i for i, n in enumerate(lengths) if data.min_item_frames <= n <= longest]
        if not keep:
            raise FlowvoxError(
                f"{self.prepared}: no item has {data.min_item_frames} .. {longest} latent frames; "
                "widen data.min_item_frames / data.max_item_frames"
            )
        subset = torch.utils.data.Subset(dataset, keep)
        return TrainData(subset, [lengths[i] for i in keep], self.collate)

    def _latents(self, modules: Mapping[str, nn.Module], batch: LatentBatch, gen) -> Tensor:
        """The batch's latents (b, c, t, f): stored, or encoded from its mels by the VAE."""
        if batch.latents is not None:
            return batch.latents
        with torch.no_grad():
            posterior = modules["vae"].encode(batch.mels)  # mean, logvar (b, c, t, f)
            eps = torch.randn(posterior.mean.shape, generator=gen, device=gen.device)
            z = posterior.mean + (0.5 * posterior.logvar).exp() * eps.to(posterior.mean)
        return z * self.model_config.scaling_factor

    def training_step(
        self, modules: Mapping[str, nn.Module], batch: LatentBatch, ctx: StepContext
    ) -> StepOutput:
        wrapped = modules["model"]
        model: LatentFlow = getattr(wrapped, "module", wrapped)  # DDP keeps it in .module
        latents = self._latents(modules, batch, ctx.device_generator)
        out = model.loss(
            latents, batch.lengths, batch.caption_ids, batch.caption_mask, ctx.device_generator
        )
        return StepOutput(out.loss, frames=int(batch.lengths.sum()))

    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """One sampled latent as an image (rows: channel-major (c f), columns: frames); with
        stored latents the true one above it, with a VAE its decoded mel."""
        model: LatentFlow = modules[self.export_module]
        device = next(model.parameters()).device
        data, media = self.config.data, self.config.media
        item = self.dataset[data.media_index]
        frames = (
            item.latent.shape[1]
            if item.latent is not None
            else math.ceil(item.mel.shape[0] / self.ratio)
        )
        caption = media.caption if media.caption is not None else item.caption
        ids, mask = caption_batch(
            self.tokenizer.encode, [caption], self.model_config.max_caption_tokens
        )
        out = model.sample(
            ids.to(device), mask.to(device), frames, media.steps, media.cfg, media.seed
        )
        z = out.latents[0].float().cpu()  # (c, t, f)
        image = rearrange(z, "c t f -> (c f) t")
        if item.latent is not None:
            image = torch.cat([image, rearrange(item.latent, "c t f -> (c f) t")])
        sink.image("latent/generated_bottom_true_top", image)
        if "vae" in modules:
            mel = modules["vae"].decode(out.latents / self.model_config.scaling_factor)  # (1, n, m)
            sink.image("mel/generated", mel[0].float().cpu().T)

    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run config with the family stamp in front."""
        return stamp_family(run_dict, self.family)

    def export_files(self, out_dir: Path) -> None:
        """The vocab beside the weights (tokenizer "char")."""
        if isinstance(self.tokenizer, CharTokenizer):
            self.tokenizer.save(Path(out_dir) / (self.model_config.vocab_file or "vocab.txt"))
