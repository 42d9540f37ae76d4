"""Padding and masks over variable-length sequences, shared by every model family.

# b: batch, n: positions (frames or tokens), l: text tokens
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError


def lengths_to_mask(lengths: Tensor, n: int) -> Tensor:
    """(b,) lengths -> (b, n) bool, True on the first ``lengths[i]`` positions."""
    return torch.arange(n, device=lengths.device)[None, :] < lengths[:, None]


def pad_ids(sequences: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Id lists -> ids (b, l) int64 padded with 0, lengths (b,)."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.zeros(len(sequences), max(1, int(lengths.max())), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
    return ids, lengths


def pad_token_ids(sequences: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> Tensor:
    """Token id lists -> (b, l) int64 padded with -1 (the infilling model turns -1 into its
    filler token)."""
    if not sequences:
        raise FlowvoxError("pad_token_ids: no sequences; pass one id list per utterance")
    out = torch.full((len(sequences), max(len(s) for s in sequences)), -1, dtype=torch.long)
    for row, ids in enumerate(sequences):
        out[row, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
    return out.to(device)


def random_span_mask(
    lengths: Tensor, n: int, frac_range: tuple[float, float], generator: torch.Generator
) -> Tensor:
    """One random contiguous span per row: (b, n) bool.

    span = floor(u₁ · L) frames with u₁ ~ U(frac_range), starting at floor(u₂ · (L - span))
    with u₂ ~ U[0, 1), L the row's length; the span lies inside the row's valid frames.
    Random numbers come from ``generator`` (on its own device).
    """
    b, gen_device = lengths.shape[0], generator.device
    lo, hi = frac_range
    frac = lo + (hi - lo) * torch.rand(b, generator=generator, device=gen_device)  # (b,)
    start_u = torch.rand(b, generator=generator, device=gen_device)  # (b,)
    lengths_g = lengths.to(gen_device)
    span = (frac * lengths_g).long()  # (b,)
    start = ((lengths_g - span) * start_u).long().clamp(min=0)  # (b,)
    frames = torch.arange(n, device=gen_device)[None, :]  # (1, n)
    mask = (frames >= start[:, None]) & (frames < (start + span)[:, None])  # (b, n)
    return mask.to(lengths.device)
