"""Padding masks: broadcast a (b, n) or full-shape mask over a tensor."""
# b: batch, n: frames, d: channels

from __future__ import annotations

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError


def expand_mask(mask: Tensor | None, like: Tensor) -> Tensor:
    """Boolean mask of ``like``'s shape: True where an element counts, False at padding.

    Args:
        mask: None (everything counts), or a bool / 0-1 tensor whose shape is a leading part of
            ``like.shape`` — typically (b, n) over (b, n, d) — or ``like.shape`` itself.
        like: the tensor the mask applies to, e.g. (b, n, d).

    Returns:
        (like.shape) bool tensor on ``like``'s device.
    """
    if mask is None:
        return torch.ones(like.shape, dtype=torch.bool, device=like.device)
    if mask.ndim == 0 or mask.shape != like.shape[: mask.ndim]:
        raise FlowvoxError(
            f"mask has shape {tuple(mask.shape)} but must be {tuple(like.shape[:2])} or "
            f"{tuple(like.shape)} for data of shape {tuple(like.shape)}; pass a (b, n) padding mask"
        )
    valid = mask.to(device=like.device) != 0
    valid = valid.reshape(*mask.shape, *([1] * (like.ndim - mask.ndim)))  # (b, n, 1...)
    return valid.expand(like.shape)
