"""Token durations: the predictor (Glow-TTS / Matcha), its loss, rounding, and expansion of
token features to frames.

Predictor on the encoder output h (b, l, d), detached so its loss does not shape the encoder:

    per layer:  h = Dropout(LN(ReLU(Conv_k(h))));   log d̂ = W h   (b, l)
    loss = Σ_real (log d̂ - log d)² / #real tokens

Rounding for synthesis: d = max(1, ⌈exp(log d̂) / speed - ε⌉) on real tokens, 0 on padding
(speed > 1 speaks faster; ε = 1e-4 frames keeps exp(log 7) = 7.0000005 in float32 at 7).
Expansion repeats token i's features d_i times along the frames.
"""
# b: batch, l: tokens, n: frames, d: channels

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError
from flowvox.nn.convnext import conv1d_channels_last

ROUNDING_SLACK = 1e-4  # frames; see durations_from_log


@dataclass
class DurationPredictorConfig:
    """Matcha's defaults: two conv layers of 256 channels, kernel 3."""

    in_dim: int = 192
    hidden_dim: int = 256
    kernel_size: int = 3
    layers: int = 2
    dropout: float = 0.1
    detach_input: bool = True  # Matcha: the duration loss does not reach the text encoder

    def __post_init__(self) -> None:
        if self.kernel_size % 2 != 1:
            raise FlowvoxError(f"duration predictor kernel_size {self.kernel_size}: use odd")
        if self.layers < 1:
            raise FlowvoxError(f"duration predictor layers {self.layers}: use at least 1")


@dataclass(frozen=True)
class Expanded:
    """Token features repeated along frames."""

    x: Tensor  # (b, n, d) frame features, 0 past each item's last frame
    mask: Tensor  # (b, n) True on real frames
    token_index: Tensor  # (b, n) int64 token of each frame (clamped to l-1 on padding)


class DurationPredictor(nn.Module):
    """h (b, l, d), mask (b, l) -> predicted log-durations (b, l), 0 at padding."""

    def __init__(self, cfg: DurationPredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [cfg.in_dim] + [cfg.hidden_dim] * cfg.layers
        pad = cfg.kernel_size // 2
        self.convs = nn.ModuleList(
            nn.Conv1d(w_in, w_out, cfg.kernel_size, padding=pad)
            for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.hidden_dim) for _ in range(cfg.layers))
        self.dropout = nn.Dropout(cfg.dropout)
        self.proj = nn.Linear(cfg.hidden_dim, 1)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        if self.cfg.detach_input:
            h = h.detach()
        keep = mask[..., None]  # (b, l, 1)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = conv1d_channels_last(h.masked_fill(~keep, 0.0), conv)  # (b, l, hidden)
            h = self.dropout(norm(torch.relu(h)))
        return self.proj(h.masked_fill(~keep, 0.0)).squeeze(-1).masked_fill(~mask, 0.0)  # (b, l)


def duration_loss(log_dur: Tensor, durations: Tensor, mask: Tensor) -> Tensor:
    """Masked MSE in the log domain: Σ_real (log d̂ - log max(d, 1e-8))² / #real tokens.

    log_dur (b, l) predicted, durations (b, l) target frames (e.g. from MAS), mask (b, l).
    """
    target = durations.to(log_dur.dtype).clamp_min(1e-8).log()  # (b, l)
    sq = (log_dur - target).pow(2).masked_fill(~mask, 0.0)
    return sq.sum() / mask.sum().clamp_min(1)


def durations_from_log(log_dur: Tensor, mask: Tensor, speed: float | Tensor = 1.0) -> Tensor:
    """Integer durations (b, l) int64: max(1, ⌈exp(log d̂) / speed - ε⌉) on real tokens, 0 on
    padding. ε = ``ROUNDING_SLACK`` frames absorbs float error on exact integers (Matcha's plain
    ceil turns a predicted log 7 into 8 frames in float32).

    ``speed`` is a number or a (b,) tensor, > 0; 2.0 halves the durations (before rounding up).
    """
    speed = torch.as_tensor(speed, dtype=torch.float32, device=log_dur.device)
    if bool((speed <= 0).any()) or not bool(torch.isfinite(speed).all()):
        raise FlowvoxError(f"speed {speed.tolist()}: use a finite number above 0 (1.0 = normal)")
    if speed.dim() == 1:
        speed = speed[:, None]  # (b, 1)
    frames = torch.ceil(log_dur.float().exp() / speed - ROUNDING_SLACK).clamp_min(1.0)  # (b, l)
    return frames.long().masked_fill(~mask, 0)


def expand_by_durations(h: Tensor, durations: Tensor, n_frames: int | None = None) -> Expanded:
    """Repeat token i of h (b, l, d) durations[b, i] times along the frames -> (b, n, d).

    n = ``n_frames`` or the longest item (Σ_i d_i). Frame j of an item belongs to the token i
    with c_{i-1} ≤ j < c_i, c = cumsum(d): found for all frames at once by a sorted search of
    j in c (tokens with d_i = 0, such as padding, get no frame). Frames past Σ d are 0.
    """
    if durations.shape != h.shape[:2]:
        raise FlowvoxError(
            f"durations {tuple(durations.shape)} must match the first two axes of h "
            f"{tuple(h.shape)} (batch, tokens)"
        )
    durations = durations.long()
    if bool((durations < 0).any()):
        raise FlowvoxError("durations must be ≥ 0 frames; clamp or round them first")
    ends = durations.cumsum(dim=1)  # (b, l) c_i
    totals = ends[:, -1]  # (b,)
    longest = int(totals.max()) if totals.numel() else 0
    n = longest if n_frames is None else n_frames
    if n < longest:
        raise FlowvoxError(f"n_frames {n_frames} < {longest} frames of the longest item: raise it")
    frames = torch.arange(n, device=h.device).expand(h.shape[0], n).contiguous()  # (b, n)
    token_index = torch.searchsorted(ends, frames, right=True)  # (b, n) #{i: c_i ≤ j}
    token_index = token_index.clamp_max(h.shape[1] - 1)
    mask = frames < totals[:, None]  # (b, n)
    x = h.gather(1, token_index[..., None].expand(-1, -1, h.shape[2]))  # (b, n, d)
    return Expanded(x=x.masked_fill(~mask[..., None], 0.0), mask=mask, token_index=token_index)


def path_from_durations(durations: Tensor, n_frames: int | None = None) -> Tensor:
    """Hard alignment (b, l, n) 0/1 (float32) with token i on its d_i frames — the path
    ``flowvox.nn.mas`` returns, rebuilt from durations (Matcha's ``generate_path``)."""
    b, n_tok = durations.shape
    ex = expand_by_durations(torch.zeros(b, n_tok, 0, device=durations.device), durations, n_frames)
    tokens = torch.arange(n_tok, device=durations.device)[None, :, None]  # (1, l, 1)
    return ((ex.token_index[:, None, :] == tokens) & ex.mask[:, None, :]).float()
