"""Monotonic alignment search (Glow-TTS, Kim et al. 2020; used by Matcha-TTS) in batched torch.

Given log-likelihoods log p[i, j] of frame j under token i, find the hard alignment A that
assigns every frame to exactly one token, monotonically, every token at least one frame, from
(0, 0) to (L-1, N-1), maximising Σ_j log p[a(j), j]. Dynamic programme over frames:

    Q[i, 0] = log p[0, 0] if i = 0 else -inf
    Q[i, j] = log p[i, j] + max(Q[i, j-1], Q[i-1, j-1])          (Q[-1, ·] = -inf)

then backtrack from i = L-1 at j = N-1: step to i-1 when i = j (token i needs frames before)
or Q[i, j-1] < Q[i-1, j-1]; on a tie stay on token i (the Glow-TTS / Matcha rule).

Cost: N-1 sequential steps forward and N back, each a handful of tensor operations over the
whole (b, l) slice — O(b·l·n) work, O(n) kernel launches, no Python loop over items or tokens,
so it runs on the GPU as is. Memory: the table Q, (n, b, l+1) in the working dtype (float64
for float64 input, float32 otherwise). Padded tokens and frames never reach the valid region
(Q[i, j] reads only i' ≤ i, j' ≤ j, so even NaN padding stays out): each item comes out
exactly as it would alone.
"""
# b: batch, l: tokens, n: frames, f: mel channels

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from flowvox.errors import FlowvoxError


@dataclass(frozen=True)
class Alignment:
    """Hard monotonic alignment of a padded batch."""

    path: Tensor  # (b, l, n) 0/1 in the input dtype; 0 at padded tokens and frames
    durations: Tensor  # (b, l) int64 frames per token; sums to the frame length, 0 at padding


def _lengths(lengths: Tensor | None, b: int, full: int, device: torch.device) -> Tensor:
    if lengths is None:
        return torch.full((b,), full, dtype=torch.long, device=device)
    return lengths.to(device=device, dtype=torch.long)


@torch.no_grad()
def monotonic_alignment_search(
    log_p: Tensor,
    text_lengths: Tensor | None = None,
    frame_lengths: Tensor | None = None,
) -> Alignment:
    """Most likely monotonic alignment of each item of log_p (b, l, n).

    Args:
        log_p: log-likelihood of frame j under token i, (b, l, n); values at padding ignored.
        text_lengths: (b,) tokens per item, 1 ≤ L ≤ l (None: all l).
        frame_lengths: (b,) frames per item, L ≤ N ≤ n (None: all n).
    Returns:
        ``Alignment`` with the 0/1 path (b, l, n) and durations (b, l).
    """
    if log_p.dim() != 3:
        raise FlowvoxError(f"log_p has shape {tuple(log_p.shape)}: pass (batch, tokens, frames)")
    b, n_tok, n = log_p.shape
    device = log_p.device
    t_len = _lengths(text_lengths, b, n_tok, device)  # (b,)
    f_len = _lengths(frame_lengths, b, n, device)  # (b,)
    if t_len.shape != (b,) or f_len.shape != (b,):
        raise FlowvoxError(f"text_lengths and frame_lengths must have shape ({b},), one per item")
    bad = (t_len < 1) | (t_len > n_tok) | (f_len < t_len) | (f_len > n)  # (b,)
    if bool(bad.any()):
        k = int(bad.nonzero()[0, 0])
        raise FlowvoxError(
            f"item {k}: {int(t_len[k])} tokens, {int(f_len[k])} frames in a ({n_tok}, {n}) matrix; "
            "need 1 ≤ tokens ≤ frames with both within the matrix (each token takes ≥ 1 frame)"
        )
    work = torch.float64 if log_p.dtype == torch.float64 else torch.float32
    frame_mask = torch.arange(n, device=device)[None, :] < f_len[:, None]  # (b, n)
    scores = log_p.detach().to(work)  # (b, l, n)

    # q[j, :, 0] is a constant -inf column standing for token -1, so q[j-1, :, :-1] is the
    # "came from the previous token" value with no copy: q[j, :, i+1] holds Q[i, j].
    q = F.pad(scores.permute(2, 0, 1), (1, 0), value=-math.inf).contiguous()  # (n, b, l+1)
    q[0, :, 2:] = -math.inf
    for j in range(1, n):
        q[j, :, 1:] += torch.maximum(q[j - 1, :, 1:], q[j - 1, :, :-1])  # (b, l)

    # Backtracking decisions for all cells at once: leaving frame j on token i, step to i-1 when
    # Q[i-1, j-1] > Q[i, j-1] or i ≥ j; never on padded frames (the item has not started yet).
    i_ge_j = (
        torch.arange(n_tok, device=device)[None, :] >= torch.arange(1, n, device=device)[:, None]
    )
    step = (q[:-1, :, :-1] > q[:-1, :, 1:]) | i_ge_j[:, None, :]  # (n-1, b, l)
    step = (step & frame_mask.t()[1:, :, None]).to(torch.uint8)
    items = torch.arange(b, device=device)
    index = t_len - 1  # (b,) current token of each item
    tokens = [index]  # token of frame n-1, n-2, ..., 0
    for j in range(n - 1, 0, -1):
        index = index - step[j - 1, items, index]  # long - uint8 -> long
        tokens.append(index)
    tokens = torch.stack(tokens[::-1], dim=1)  # (b, n)
    token_ids = torch.arange(n_tok, device=device)[None, :, None]  # (1, l, 1)
    path = (tokens[:, None, :] == token_ids) & frame_mask[:, None, :]  # (b, l, n)
    durations = torch.zeros(b, n_tok, dtype=torch.long, device=device)
    durations.scatter_add_(1, tokens, frame_mask.long())  # (b, l)
    return Alignment(path=path.to(log_p.dtype), durations=durations)


def alignment_log_likelihood(mu: Tensor, mel: Tensor) -> Tensor:
    """Gaussian log-likelihood of every frame under every token's mean (Matcha's prior), unit
    variance:  log N(y_j; μ_i, I) = -½‖y_j‖² + μ_i·y_j - ½‖μ_i‖² - (f/2) log 2π.

    mu (b, l, f), mel (b, n, f) -> (b, l, n), computed in at least float32. Values at padded
    tokens or frames are whatever the padding gives; the search ignores them.
    """
    if (
        mu.dim() != 3
        or mel.dim() != 3
        or mu.shape[0] != mel.shape[0]
        or mu.shape[2] != mel.shape[2]
    ):
        raise FlowvoxError(
            f"mu {tuple(mu.shape)} and mel {tuple(mel.shape)}: pass (b, l, f) and (b, n, f) "
            "with the same batch and mel channels"
        )
    dtype = torch.promote_types(torch.promote_types(mu.dtype, mel.dtype), torch.float32)
    mu, mel = mu.to(dtype), mel.to(dtype)
    f = mu.shape[-1]
    cross = torch.einsum("blf,bnf->bln", mu, mel)  # (b, l, n)
    mu_sq = 0.5 * mu.pow(2).sum(-1)  # (b, l)
    mel_sq = 0.5 * mel.pow(2).sum(-1)  # (b, n)
    const = 0.5 * f * math.log(2 * math.pi)
    return cross - mu_sq[:, :, None] - mel_sq[:, None, :] - const


def prior_loss(mu_frames: Tensor, mel: Tensor, frame_mask: Tensor) -> Tensor:
    """Matcha's prior loss: mean over valid (frame, channel) of ½((y - μ)² + log 2π), the
    negative log-likelihood per element of the mel under the aligned token means.

    mu_frames (b, n, f) (token means expanded along the alignment), mel (b, n, f),
    frame_mask (b, n) True on real frames -> scalar.
    """
    m = frame_mask[..., None].to(mel.dtype)  # (b, n, 1)
    nll = 0.5 * ((mel - mu_frames).pow(2) + math.log(2 * math.pi))  # (b, n, f)
    return (nll * m).sum() / (m.sum() * mel.shape[-1]).clamp_min(1.0)
