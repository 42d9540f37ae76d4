"""Probability paths between noise x_0 (t=0) and data x_1 (t=1), and the time sampler."""
# b: batch; "..." after b: any trailing data axes (e.g. n frames, d channels)

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError


@dataclass(frozen=True)
class PathSample:
    """One draw from a conditional path.

    x_t: (b, ...) point on the path at time t.
    u_t: (b, ...) conditional velocity d x_t / dt, the regression target.
    t:   (b,) the times.
    """

    x_t: Tensor
    u_t: Tensor
    t: Tensor


class ProbPath(Protocol):
    """The interface every path offers."""

    def sample(self, x_0: Tensor, x_1: Tensor, t: Tensor) -> PathSample: ...


@dataclass(frozen=True)
class OTCFMPath:
    """Optimal-transport conditional flow matching path (Lipman et al.; Matcha uses 1e-4).

    x_t = (1 - (1 - sigma_min) t) x_0 + t x_1
    u_t = x_1 - (1 - sigma_min) x_0

    At t=1 the path is a Gaussian of std sigma_min around x_1 rather than a point.
    """

    sigma_min: float = 1e-4

    def __post_init__(self) -> None:
        if not 0.0 <= self.sigma_min < 1.0:
            raise FlowvoxError(f"sigma_min={self.sigma_min} must lie in [0, 1); use e.g. 1e-4")

    def sample(self, x_0: Tensor, x_1: Tensor, t: Tensor) -> PathSample:
        """Point and target velocity at times t.

        Args:
            x_0: (b, ...) noise.
            x_1: (b, ...) data, same shape as x_0.
            t: (b,) times in [0, 1], broadcast over the trailing axes.
        """
        _check_shapes(x_0, x_1, t)
        t_x = t.reshape(-1, *([1] * (x_1.ndim - 1))).to(x_1.dtype)  # (b, 1, ...)
        keep = 1.0 - self.sigma_min
        x_t = (1.0 - keep * t_x) * x_0 + t_x * x_1
        u_t = x_1 - keep * x_0
        return PathSample(x_t=x_t, u_t=u_t, t=t)


@dataclass(frozen=True)
class RectifiedPath(OTCFMPath):
    """Rectified flow (Liu et al.; F5-TTS, VoiceFlow): the OT-CFM path with sigma_min = 0.

    x_t = (1 - t) x_0 + t x_1,  u_t = x_1 - x_0
    """

    sigma_min: float = field(default=0.0, init=False)


def sample_time(
    batch_size: int,
    generator: torch.Generator,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Training times t ~ U[0, 1), one per sample: (b,).

    Drawn on the generator's device, then moved to ``device`` (default: the generator's).
    """
    if batch_size < 1:
        raise FlowvoxError(f"batch_size={batch_size} must be at least 1")
    t = torch.rand(batch_size, generator=generator, device=generator.device, dtype=dtype)
    return t if device is None else t.to(device)


def _check_shapes(x_0: Tensor, x_1: Tensor, t: Tensor) -> None:
    if x_0.shape != x_1.shape:
        raise FlowvoxError(
            f"x_0 {tuple(x_0.shape)} and x_1 {tuple(x_1.shape)} must have the same shape"
        )
    if t.shape != (x_1.shape[0],):
        raise FlowvoxError(
            f"t has shape {tuple(t.shape)}; it must be ({x_1.shape[0]},): one time per sample"
        )
