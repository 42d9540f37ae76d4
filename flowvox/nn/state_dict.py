"""The one check that a state dict fits a model: names and shapes, listed in one message.

Every loader (model folders, vocoder folders, released Vocos and HiFi-GAN files) calls
``check_state_dict`` before ``load_state_dict``, so that a mismatch is one ``FlowvoxError``
naming the file, what is missing, what is unexpected and what has the wrong shape.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from flowvox.errors import FlowvoxError

SHOWN_KEYS = 6  # keys listed per kind of mismatch; the rest are counted


def describe_mismatch(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str:
    """Missing, unexpected and wrongly shaped keys of ``state`` against ``own``; "" if none."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]

    def listed(label: str, keys: list[str]) -> str:
        more = f" (+{len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else ""
        return f"{label} {len(keys)}: {', '.join(keys[:SHOWN_KEYS])}{more}"

    kinds = (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes))
    return "; ".join(listed(label, keys) for label, keys in kinds if keys)


def check_state_dict(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: object, fix: str | None = None
) -> None:
    """``FlowvoxError`` when ``state`` does not fit ``model`` exactly: "{source} does not
    match the model (missing ..; unexpected ..; wrong shape ..); {fix}"."""
    mismatch = describe_mismatch(model.state_dict(), state)
    if mismatch:
        fix = fix or "export the weights and config of the same model together"
        raise FlowvoxError(f"{source} does not match the model ({mismatch}); {fix}")
