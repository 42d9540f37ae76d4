"""The flow-matching regression loss: masked mean squared error."""
# b: batch, n: frames, d: channels

from __future__ import annotations

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.flow.masking import expand_mask


def flow_matching_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error over the valid elements.

    loss = sum_valid (pred - target)^2 / (number of valid elements)

    Args:
        pred: (b, n, d) predicted velocity (any shape works).
        target: same shape as pred, e.g. ``PathSample.u_t``.
        mask: None, a (b, n) bool/0-1 padding mask broadcast over d, or pred's shape.
            With a (b, n) mask the count is (valid frames) * d.

    Returns:
        0-d tensor. A fully masked batch returns exactly 0 (still attached to the graph, so
        ``backward()`` works and gives zero gradients). Values at padding never reach the
        result or the gradient, even if they are NaN or inf.
    """
    if pred.shape != target.shape:
        raise FlowvoxError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape"
        )
    valid = expand_mask(mask, pred)  # (b, n, d) bool
    diff = torch.where(valid, pred - target, 0.0)  # padding -> exactly 0, no NaN leaks
    count = valid.sum().clamp_min(1)  # a fully masked batch: 0 / 1 = 0
    return diff.square().sum() / count
