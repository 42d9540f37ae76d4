"""``T2SFlow``: flow-matching text-to-semantic generation (T2S-FM).

Text -> N × d pre-VQ embeddings of a frozen ``SemanticTokenizer``, by conditional flow
matching on the OT path (``flowvox.flow.OTCFMPath``, ``sigma_min``) in normalised space

    x_1 = (emb − μ) / s              μ, s: per-channel mean and std of the training
                                     embeddings (buffers ``emb_mean``, ``emb_std``)
    x_t = (1 − (1 − σ_min) t) x_0 + t x_1,   u_t = x_1 − (1 − σ_min) x_0,   x_0 ~ N(0, I)

Sampling integrates dx/dt = v(x, t, text) from t = 0 to 1 with any ``flowvox.flow`` solver
and time grid, with classifier-free guidance u = u_u + w (u_c − u_u) (``DiffusersGuidance``;
w = 1 off) evaluated as one doubled batch; the text is encoded once per run. The result is
denormalised (emb = s x + μ); its nearest codes are the tokenizer's ``quantize`` of it. Row
i's noise (N_i, d) comes from its own CPU generator seeded ``seeds[i]`` and every layer
masks padding, so a row's result does not depend on its batch.

A model folder (family "t2s_fm") is model.safetensors + config.json, with the frozen
tokenizer's folder inside it as ``tokenizer/`` (``save_pretrained(..., tokenizer=DIR)``; the
training export copies ``data.tokenizer`` there).
"""
# b: batch, n: semantic frames (25 Hz), l: text bytes, d: embedding channels

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.flow import DiffusersGuidance, guided_velocity, solve, time_grid
from flowvox.models.loading import ModelFamily, PretrainedModel, load_model
from flowvox.models.semantic.t2s_fm_config import T2S_FM_FAMILY, TEXT_NULL, T2SFlowConfig
from flowvox.models.semantic.t2s_fm_network import T2SNetwork, TextContext
from flowvox.models.semantic.t2s_folder import save_t2s_folder
from flowvox.nn.masks import lengths_to_mask, pad_ids


@dataclass(frozen=True)
class T2SSample:
    """emb: (b, n, d) generated pre-VQ embeddings, zero after each row's length. mask: (b, n)
    True on real frames. lengths: (b,). nfe: network calls (a doubled CFG batch counts once)."""

    emb: Tensor
    mask: Tensor
    lengths: Tensor
    nfe: int


def text_bytes(texts: Sequence[str], max_bytes: int) -> tuple[Tensor, Tensor]:
    """UTF-8 bytes of ``texts`` -> ids (b, l) padded with 0, lengths (b,); an empty text or
    one over ``max_bytes`` bytes is an error."""
    encoded = [t.encode("utf-8") for t in texts]
    for text, raw in zip(texts, encoded, strict=True):
        if not text.strip():
            raise FlowvoxError("empty text; give at least one word")
        if len(raw) > max_bytes:
            raise FlowvoxError(
                f"text {text[:30]!r}... is {len(raw)} UTF-8 bytes; this T2S model reads at most "
                f"{max_bytes}: split it into sentences"
            )
    return pad_ids([list(raw) for raw in encoded])


def drop_text(ids: Tensor, lengths: Tensor, drop: Tensor) -> tuple[Tensor, Tensor]:
    """Rows where ``drop`` (b,) is True become the null text: [TEXT_NULL], length 1 (the
    unconditional input of guidance). ids (b, l), lengths (b,)."""
    ids = ids.clone()
    ids[drop, 0] = TEXT_NULL
    ids[drop, 1:] = 0
    return ids, torch.where(drop, torch.ones_like(lengths), lengths)


class T2SFlow(PretrainedModel):
    """Text -> semantic embeddings; see the module docstring."""

    family: ClassVar[ModelFamily] = T2S_FM_FAMILY

    def __init__(self, config: T2SFlowConfig) -> None:
        super().__init__()
        self.config = config
        self.network = T2SNetwork(config)
        self.register_buffer("emb_mean", torch.zeros(config.emb_dim))  # (d,)
        self.register_buffer("emb_std", torch.ones(config.emb_dim))  # (d,)

    # ------------------------------------------------------------------ normalisation
    def set_embedding_stats(self, mean: Tensor, std: Tensor) -> None:
        """Per-channel mean and std (d,) of the training embeddings (std clamped >= 1e-4)."""
        d = self.config.emb_dim
        if mean.shape != (d,) or std.shape != (d,):
            raise FlowvoxError(f"embedding statistics must have shape ({d},)")
        self.emb_mean.copy_(mean)
        self.emb_std.copy_(std.clamp(min=1e-4))

    def normalize(self, emb: Tensor) -> Tensor:
        """emb (b, n, d) -> x = (emb − μ) / s."""
        return (emb - self.emb_mean) / self.emb_std

    def denormalize(self, x: Tensor) -> Tensor:
        """x (b, n, d) -> emb = s x + μ."""
        return x * self.emb_std + self.emb_mean

    # ------------------------------------------------------------------ network
    def encode_text(self, ids: Tensor, lengths: Tensor) -> TextContext:
        """ids (b, l) bytes (or ``TEXT_NULL``), lengths (b,) -> the text every frame reads."""
        return self.network.encode_text(ids, lengths)

    def forward(self, x: Tensor, t: Tensor, ids: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """Velocity (b, n, d) at state x (b, n, d), times t (b,), for texts ids (b, l) with
        lengths (b,), frame mask (b, n) True on real frames. (The trainer calls this.)"""
        return self.network(x, t, self.encode_text(ids, lengths), mask)

    def guided_velocity_fn(self, ids: Tensor, lengths: Tensor, mask: Tensor, cfg: float):
        """(x (b, n, d), t (b,)) -> u = u_u + w (u_c − u_u) with w = ``cfg`` (1: u_c alone,
        one pass); both texts are encoded once, here."""
        guidance = DiffusersGuidance(cfg)
        cond = self.encode_text(ids, lengths)
        null = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
        uncond = self.encode_text(*drop_text(ids, lengths, null))

        def model_fn(x: Tensor, t: Tensor, c: tuple[Tensor, ...]) -> Tensor:
            return self.network(x, t, TextContext(c[0], c[1]), c[2])

        c_cond, c_uncond = (cond.h, cond.mask, mask), (uncond.h, uncond.mask, mask)
        return lambda x, t: guided_velocity(model_fn, x, t, c_cond, c_uncond, guidance)

    # ------------------------------------------------------------------ sampling
    def frames_for(self, texts: Sequence[str], words_per_second: float | None = None) -> list[int]:
        """N of each text by the config's words-per-second rule (``words_per_second``
        overrides the rate), each checked against ``max_frames``."""
        frames = [self.config.frames_for_text(t, words_per_second) for t in texts]
        self.check_frames(frames)
        return frames

    def check_frames(self, frames: Sequence[int]) -> None:
        """Each N must lie in 1 .. ``max_frames``."""
        top = self.config.max_frames
        seconds = top / self.config.token_rate
        for n in frames:
            if isinstance(n, bool) or int(n) != n or not 1 <= n <= top:
                raise FlowvoxError(
                    f"N={n} semantic frames: must lie in 1 .. {top} ({seconds:.0f} s); split "
                    "long text into sentences, or check --words-per-second / --frames"
                )

    def check_guidance(self, cfg: float | None) -> float:
        """The guidance weight to sample with (None: the config's ``guidance``), checked."""
        cfg = self.config.guidance if cfg is None else cfg
        if not (math.isfinite(cfg) and cfg >= 0):
            raise FlowvoxError(f"cfg={cfg}: give a guidance weight >= 0 (1: off)")
        if cfg != 1.0 and self.config.cfg_drop_prob == 0.0:
            raise FlowvoxError(
                f"cfg={cfg}: this model was trained without text dropout (cfg_drop_prob 0, e.g. "
                "mode text_only), so it has no unconditional velocity; use cfg 1 (off)"
            )
        return cfg

    @torch.inference_mode()
    def sample(
        self,
        texts: Sequence[str],
        frames: Sequence[int] | None = None,
        nfe: int = 8,
        cfg: float | None = None,
        seeds: Sequence[int] | None = None,
        method: str = "euler",
        grid: str = "uniform",
        words_per_second: float | None = None,
    ) -> T2SSample:
        """Embeddings for ``texts``: N_i = ``frames[i]`` (None: the length rule), ``nfe``
        steps of ``method`` on a ``grid`` time grid, guidance weight ``cfg`` (None: the
        config's ``guidance``), row i's noise from ``seeds[i]`` (None: 0, 1, ...)."""
        if not texts:
            raise FlowvoxError("no texts given; pass one text per row")
        cfg = self.check_guidance(cfg)
        frames = list(frames) if frames is not None else self.frames_for(texts, words_per_second)
        if len(frames) != len(texts):
            raise FlowvoxError(f"{len(frames)} frame counts for {len(texts)} texts")
        self.check_frames(frames)
        seeds = list(seeds) if seeds is not None else list(range(len(texts)))
        if len(seeds) != len(texts):
            raise FlowvoxError(f"{len(seeds)} seeds for {len(texts)} texts; pass one per text")
        device = self.emb_mean.device
        ids, text_lengths = text_bytes(texts, self.config.max_text_bytes)
        lengths = torch.tensor(frames, dtype=torch.long)
        x = self.initial_noise(lengths, seeds).to(device)  # (b, n, d)
        mask = lengths_to_mask(lengths, x.shape[1]).to(device)  # (b, n)
        velocity = self.guided_velocity_fn(ids.to(device), text_lengths.to(device), mask, cfg)
        result = solve(velocity, x, time_grid(nfe, grid).to(device), method)
        emb = self.denormalize(result.x).masked_fill(~mask[..., None], 0.0)
        return T2SSample(emb, mask, lengths.to(device), result.nfe)

    def initial_noise(self, lengths: Tensor, seeds: Sequence[int]) -> Tensor:
        """(b, n, d) noise: row i holds randn(N_i, d) from seeds[i], zeros after."""
        d = self.config.emb_dim
        x = torch.zeros(len(seeds), int(lengths.max()), d)
        for i, (n, s) in enumerate(zip(lengths.tolist(), seeds, strict=True)):
            x[i, :n] = torch.randn(n, d, generator=torch.Generator().manual_seed(int(s)))
        return x

    # ------------------------------------------------------------------ folders
    def save_pretrained(  # type: ignore[override]  # byte text: no vocab; a tokenizer folder
        self,
        folder: str | os.PathLike,
        tokenizer: str | os.PathLike | None = None,
        extra: dict | None = None,
    ) -> Path:
        """Write a new model folder stamped "t2s_fm" (atomically), with a copy of the
        ``tokenizer`` model folder inside it as ``tokenizer/`` when given."""
        return save_t2s_folder(self, folder, tokenizer, extra)

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, device: str | torch.device = "cpu"
    ) -> T2SFlow:
        """The model of a "t2s_fm" folder, in eval mode on ``device``."""
        return load_t2s(folder, device)


def load_t2s(folder: str | os.PathLike, device: str | torch.device = "cpu") -> T2SFlow:
    """The ``T2SFlow`` of a folder stamped "t2s_fm", in eval mode on ``device`` (another
    family, a newer format or weights that do not fit are one-line errors)."""
    return load_model(folder, T2SFlow, device)
