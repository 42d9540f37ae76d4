"""``S2A``: semantic tokens + a voice prompt -> mel, by span-infilling flow matching.

Training (as F5-TTS, with tokens for text): in each utterance a contiguous span of
``frac_lengths_mask`` of its frames is hidden; the rest is the voice prompt ``cond``. With
x_1 the mel, x_t = (1 − (1 − σ) t) x_0 + t x_1 and u = x_1 − (1 − σ) x_0,

    loss = Σ_span (v_θ(x_t, cond, tokens, t) − u)² / (span frames · f)

counting the span only. Per sample the prompt is dropped with ``audio_drop_prob`` and prompt
and tokens together (every code the mask code) with ``cond_drop_prob``: the unconditional
velocity of guidance.

Sampling (``sample``): row i is [prompt mel (r_i frames) | g_i = round(m_i · frames_per_token)
frames to make] with codes [prompt codes | generated codes], each repeated to its own part's
frames (``S2AConfig.token_index``); Euler (or another fixed-step solver) over the sway grid
t ← t + s (cos(πt/2) − 1 + t), F5 guidance v = v_c + w (v_c − v_u) as one doubled batch; the
generated part is returned. Row i's noise comes from its own CPU generator seeded
``seeds[i]`` and padding is hidden in every layer, so a row's mel does not depend on its batch.

A model folder (family "s2a") holds the frozen tokenizer as ``tokenizer/`` (it encodes the
voice prompt's codes).
"""
# b: batch, n: mel frames, m: semantic tokens, f: mel bins, c: token channels

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.flow import (
    F5Guidance,
    OTCFMPath,
    flow_matching_loss,
    guided_velocity,
    sample_time,
    solve,
    sway,
    time_grid,
)
from flowvox.models.loading import ModelFamily, PretrainedModel, load_model
from flowvox.models.semantic.s2a_config import S2A_FAMILY, S2AConfig
from flowvox.models.semantic.s2a_network import S2ANetwork
from flowvox.models.semantic.t2s_folder import save_t2s_folder
from flowvox.nn.masks import lengths_to_mask, random_span_mask


@dataclass(frozen=True)
class S2ADraw:
    """Every random choice of one training step. span_mask (b, n) frames to infill; x_0
    (b, n, f) noise; t (b,); drop_audio, drop_tokens (b,) bool guidance dropout."""

    span_mask: Tensor
    x_0: Tensor
    t: Tensor
    drop_audio: Tensor
    drop_tokens: Tensor


@dataclass(frozen=True)
class S2ALoss:
    """loss 0-d over span frames × bins; pred, target (b, n, f); cond (b, n, f) the prompt
    before dropout; span_frames 0-d int; draw: the random choices."""

    loss: Tensor
    pred: Tensor
    target: Tensor
    cond: Tensor
    span_frames: Tensor
    draw: S2ADraw


@dataclass(frozen=True)
class S2AJob:
    """One row of ``sample``: the codes to speak, the prompt's mel (r, f) and codes (both
    empty: no prompt), the seed of its noise."""

    codes: list[int]
    prompt_mel: Tensor
    prompt_codes: list[int]
    seed: int


def upsample_codes(config: S2AConfig, codes: Sequence[int], frames: int) -> Tensor:
    """(frames,) int64: ``codes`` (m,) repeated to ``frames`` mel frames (k(j) of
    ``S2AConfig.token_index``)."""
    return torch.tensor(list(codes), dtype=torch.long)[config.token_index(frames, len(codes))]


class S2A(PretrainedModel):
    """Semantic tokens + voice prompt -> mel; see the module docstring."""

    family: ClassVar[ModelFamily] = S2A_FAMILY

    def __init__(self, config: S2AConfig) -> None:
        super().__init__()
        self.config = config
        self.network = S2ANetwork(config)

    def forward(
        self, x_t: Tensor, cond: Tensor, frame_codes: Tensor, t: Tensor, mask: Tensor
    ) -> Tensor:
        """Velocity (b, n, f) at x_t (b, n, f), prompt cond (b, n, f), codes per frame
        frame_codes (b, n), times t (b,), mask (b, n) True on real frames."""
        return self.network(x_t, cond, self.network.encode_tokens(frame_codes, mask), t, mask)

    # ------------------------------------------------------------------ training
    def draw_training(
        self, lengths: Tensor, n: int, generator: torch.Generator, dtype: torch.dtype
    ) -> S2ADraw:
        """Span, noise, time and dropout for a batch of ``lengths`` (b,), from ``generator``."""
        cfg, b, device = self.config, lengths.shape[0], lengths.device
        g = generator.device
        span = random_span_mask(lengths, n, cfg.frac_lengths_mask, generator)
        span &= lengths_to_mask(lengths, n)
        x_0 = torch.randn(b, n, cfg.mel_dim, generator=generator, device=g, dtype=dtype)
        t = sample_time(b, generator, device=g, dtype=dtype)
        u_audio = torch.rand(b, generator=generator, device=g)
        u_both = torch.rand(b, generator=generator, device=g)
        drop_tokens = u_both < cfg.cond_drop_prob  # (b,)
        drop_audio = (u_audio < cfg.audio_drop_prob) | drop_tokens  # (b,)
        return S2ADraw(span, x_0.to(device), t.to(device), drop_audio.to(device),
                       drop_tokens.to(device))  # fmt: skip

    def loss_with_draw(
        self,
        mel: Tensor,
        lengths: Tensor,
        frame_codes: Tensor,
        draw: S2ADraw,
        model: Callable[..., Tensor] | None = None,
    ) -> S2ALoss:
        """The infilling loss of mel (b, n, f) with ``lengths`` (b,) and frame_codes (b, n)
        for given random choices (module docstring). ``model``: the module to call (the
        trainer's wrapped one), default self."""
        model = model or self
        self._check_batch(mel, lengths, frame_codes)
        valid = lengths_to_mask(lengths, mel.shape[1])  # (b, n)
        path = OTCFMPath(sigma_min=self.config.sigma_min).sample(draw.x_0, mel, draw.t)
        cond = mel.masked_fill(draw.span_mask[..., None], 0.0)  # (b, n, f) the prompt
        given = cond.masked_fill(draw.drop_audio[:, None, None], 0.0)
        codes = frame_codes.masked_fill(draw.drop_tokens[:, None] | ~valid, self.config.mask_code)
        pred = model(path.x_t, given, codes, draw.t, valid)
        counted = draw.span_mask & valid  # (b, n)
        loss = flow_matching_loss(pred, path.u_t, counted)
        return S2ALoss(loss, pred, path.u_t, cond, counted.sum(), draw)

    def loss(
        self, mel: Tensor, lengths: Tensor, frame_codes: Tensor, generator: torch.Generator
    ) -> S2ALoss:
        """``loss_with_draw`` with the random choices drawn from ``generator``."""
        draw = self.draw_training(lengths, mel.shape[1], generator, mel.dtype)
        return self.loss_with_draw(mel, lengths, frame_codes, draw)

    def _check_batch(self, mel: Tensor, lengths: Tensor, frame_codes: Tensor) -> None:
        f = self.config.mel_dim
        if mel.ndim != 3 or mel.shape[2] != f:
            raise FlowvoxError(
                f"mel has shape {tuple(mel.shape)}; expected (b, n, {f}) for mel preset "
                f"{self.config.mel.name!r}"
            )
        if frame_codes.shape != mel.shape[:2] or lengths.shape != mel.shape[:1]:
            raise FlowvoxError(
                f"frame_codes {tuple(frame_codes.shape)} and lengths {tuple(lengths.shape)} "
                f"must be {tuple(mel.shape[:2])} and ({mel.shape[0]},) for this mel batch"
            )

    # ------------------------------------------------------------------ sampling
    def check_job(self, job: S2AJob) -> None:
        """A one-line error for codes out of the book, an empty row, a prompt of the wrong
        mel width, or more frames than ``max_frames``."""
        cfg = self.config
        for what, codes in (("codes", job.codes), ("prompt codes", job.prompt_codes)):
            bad = [c for c in codes if not 0 <= c < cfg.codebook_size]
            if bad:
                raise FlowvoxError(
                    f"{what} {bad[:5]} lie outside the {cfg.codebook_size}-code book of this "
                    "S2A model; use codes of the tokenizer it was trained with"
                )
        if not job.codes:
            raise FlowvoxError("no semantic codes to speak; give at least one code")
        r = job.prompt_mel.shape[0]
        if (r == 0) != (not job.prompt_codes):
            raise FlowvoxError("the voice prompt needs both its mel and its codes (or neither)")
        if r and (job.prompt_mel.ndim != 2 or job.prompt_mel.shape[1] != cfg.mel_dim):
            raise FlowvoxError(f"prompt mel must be (r, {cfg.mel_dim}) for mel {cfg.mel.name!r}")
        total = r + cfg.mel_frames(len(job.codes))
        if total > cfg.max_frames:
            seconds = cfg.max_frames * cfg.mel.hop_length / cfg.mel.sample_rate
            raise FlowvoxError(
                f"{total} mel frames (prompt + speech) exceed this S2A model's {cfg.max_frames} "
                f"({seconds:.0f} s); use a shorter voice prompt or split the text"
            )

    @torch.inference_mode()
    def sample(
        self,
        jobs: Sequence[S2AJob],
        nfe: int = 16,
        cfg: float | None = None,
        sway_s: float = -1.0,
        method: str = "euler",
    ) -> list[Tensor]:
        """Generated log-mels (g_i, f) of ``jobs``, in order (module docstring); guidance
        weight ``cfg`` (None: the config's ``guidance``; 0: off)."""
        if not jobs:
            raise FlowvoxError("no S2A jobs given")
        w = self.config.guidance if cfg is None else cfg
        guidance = F5Guidance(w)
        for job in jobs:
            self.check_job(job)
        device = next(self.parameters()).device
        c = self.config
        gen = [c.mel_frames(len(job.codes)) for job in jobs]
        totals = [job.prompt_mel.shape[0] + g for job, g in zip(jobs, gen, strict=True)]
        b, n, f = len(jobs), max(totals), c.mel_dim
        x = torch.zeros(b, n, f)
        cond = torch.zeros(b, n, f)
        codes = torch.full((b, n), c.mask_code, dtype=torch.long)
        for i, (job, g, total) in enumerate(zip(jobs, gen, totals, strict=True)):
            r = job.prompt_mel.shape[0]
            x[i, :total] = torch.randn(total, f, generator=torch.Generator().manual_seed(job.seed))
            if r:
                cond[i, :r] = job.prompt_mel.float().cpu()
                codes[i, :r] = upsample_codes(c, job.prompt_codes, r)
            codes[i, r:total] = upsample_codes(c, job.codes, g)
        x, cond, codes = x.to(device), cond.to(device), codes.to(device)
        mask = lengths_to_mask(torch.tensor(totals), n).to(device)  # (b, n)
        net = self.network
        tok_c = net.encode_tokens(codes.masked_fill(~mask, c.mask_code), mask)  # (b, n, c)
        tok_u = net.encode_tokens(torch.full_like(codes, c.mask_code), mask)

        def model_fn(x_t: Tensor, t: Tensor, k: tuple[Tensor, ...]) -> Tensor:
            return net(x_t, k[0], k[1], t, k[2])

        def velocity(x_t: Tensor, t: Tensor) -> Tensor:
            both = (cond, tok_c, mask), (torch.zeros_like(cond), tok_u, mask)
            return guided_velocity(model_fn, x_t, t, *both, guidance)

        grid = sway(time_grid(nfe, "uniform"), sway_s).to(device)
        out = solve(velocity, x, grid, method).x  # (b, n, f)
        return [
            out[i, job.prompt_mel.shape[0] : total]
            for i, (job, total) in enumerate(zip(jobs, totals, strict=True))
        ]

    # ------------------------------------------------------------------ folders
    def save_pretrained(  # type: ignore[override]  # no vocab; a tokenizer folder
        self,
        folder: str | os.PathLike,
        tokenizer: str | os.PathLike | None = None,
        extra: dict | None = None,
    ) -> Path:
        """Write a new model folder stamped "s2a" (atomically), with a copy of the
        ``tokenizer`` model folder inside it as ``tokenizer/`` when given."""
        return save_t2s_folder(self, folder, tokenizer, extra)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> S2A:
        """The model of an "s2a" folder, in eval mode on ``device``."""
        return load_s2a(folder, device)


def load_s2a(folder: str | os.PathLike, device: str | torch.device = "cpu") -> S2A:
    """The ``S2A`` of a folder stamped "s2a", in eval mode on ``device`` (another family, a
    newer format or weights that do not fit are one-line errors)."""
    return load_model(folder, S2A, device)
