"""Classifier-free guidance: combine conditional and unconditional velocities.

Two conventions are in use, with different weights that switch guidance off:
  F5-TTS:             v = v_c + w (v_c - v_u)   off at w = 0 (default w = 2)
  diffusers / LAFMA:  v = v_u + w (v_c - v_u)   off at w = 1 (LAFMA uses w = 3)
The F5 weight w equals the diffusers weight minus one.
"""
# b: batch; "..." after b: any trailing data axes

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError

# A model condition: a tensor with the batch axis first, None, or a dict / tuple of these.
Condition = Any
ModelFn = Callable[[Tensor, Tensor, Condition], Tensor]  # (x, t (b,), cond) -> v


@dataclass(frozen=True)
class Guidance:
    """Base: a weight w >= 0, the formula it applies, and whether it is switched off."""

    w: float
    formula: ClassVar[str] = ""
    off_weight: ClassVar[float] = 0.0

    def __post_init__(self) -> None:
        if not self.w >= 0:  # also rejects NaN
            raise FlowvoxError(f"guidance weight w={self.w} must be >= 0 ({self.formula})")

    @property
    def is_off(self) -> bool:
        """True when the formula reduces to the conditional prediction."""
        return self.w == self.off_weight

    def combine(self, v_c: Tensor, v_u: Tensor) -> Tensor:
        """Guided velocity from conditional v_c and unconditional v_u, both (b, ...).

        When guidance is off this returns v_c itself (bit-exact, v_u unused).
        """
        if self.is_off:
            return v_c
        return self._apply(v_c, v_u)

    def _apply(self, v_c: Tensor, v_u: Tensor) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class F5Guidance(Guidance):
    """F5-TTS form; w = 0 is off."""

    w: float = 2.0
    formula: ClassVar[str] = "v = v_c + w * (v_c - v_u)"
    off_weight: ClassVar[float] = 0.0

    def _apply(self, v_c: Tensor, v_u: Tensor) -> Tensor:
        return v_c + self.w * (v_c - v_u)


@dataclass(frozen=True)
class DiffusersGuidance(Guidance):
    """diffusers / LAFMA form; w = 1 is off, 0 <= w < 1 leans towards unconditional."""

    w: float = 3.0
    formula: ClassVar[str] = "v = v_u + w * (v_c - v_u)"
    off_weight: ClassVar[float] = 1.0

    def _apply(self, v_c: Tensor, v_u: Tensor) -> Tensor:
        return v_u + self.w * (v_c - v_u)


def guided_velocity(
    model_fn: ModelFn,
    x: Tensor,
    t: Tensor,
    cond: Condition,
    uncond: Condition,
    guidance: Guidance,
) -> Tensor:
    """Evaluate cond and uncond as ONE doubled batch and combine them.

    Calls ``model_fn(cat(x, x), cat(t, t), cat(cond, uncond))`` once on batch 2b and splits
    the output into v_c (first b) and v_u (last b). When guidance is off it calls
    ``model_fn(x, t, cond)`` once on batch b instead.

    Args:
        model_fn: (x, t, cond) -> v.
        x: (b, ...) state. t: (b,) times.
        cond, uncond: conditions of matching structure (tensor, None, dict or tuple of them);
            tensors are concatenated along the batch axis.
    Returns:
        (b, ...) guided velocity.
    """
    if guidance.is_off:
        return model_fn(x, t, cond)
    b = x.shape[0]
    v = model_fn(torch.cat([x, x]), torch.cat([t, t]), _cat_batch(cond, uncond))  # (2b, ...)
    if v.shape[0] != 2 * b:
        raise FlowvoxError(f"model returned batch {v.shape[0]} for a doubled batch of {2 * b}")
    v_c, v_u = v[:b], v[b:]  # (b, ...) each
    return guidance.combine(v_c, v_u)


def _cat_batch(cond: Condition, uncond: Condition) -> Condition:
    """Concatenate two conditions of the same structure along the batch axis."""
    if cond is None and uncond is None:
        return None
    if isinstance(cond, Tensor) and isinstance(uncond, Tensor):
        return torch.cat([cond, uncond])
    if isinstance(cond, Mapping) and isinstance(uncond, Mapping) and cond.keys() == uncond.keys():
        return {key: _cat_batch(cond[key], uncond[key]) for key in cond}
    if isinstance(cond, tuple | list) and isinstance(uncond, tuple | list):
        if len(cond) == len(uncond):
            return type(cond)(_cat_batch(c, u) for c, u in zip(cond, uncond, strict=True))
    raise FlowvoxError(
        "cond and uncond must have the same structure (tensors, None, or dicts/tuples of them)"
    )
