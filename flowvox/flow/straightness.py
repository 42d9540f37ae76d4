"""Straightness of a flow's own ODE trajectories (rectified flow, Liu et al.; VoiceFlow).

For the trajectory x_t of dx/dt = v(x, t) started at x_0 ~ N(0, I), with end point x_1,

    S = E_{x_0} ∫_0^1 ||(x_1 - x_0) - v(x_t, t)||² dt

S = 0 exactly when every trajectory is a straight line run at constant speed (then one Euler
step is exact); reflow lowers it. Here ||·||² sums over valid elements and is divided by their
count, so S is "per element" and does not grow with the utterance length.

Discretisation: the trajectory is solved on a grid t_0 = 0 < ... < t_K = 1 with any solver;
v is then evaluated at every grid point and the integral taken with the trapezoid rule
(exact, up to round-off, when v is constant along the trajectory).
"""
# b: batch; k: grid points; "..." after b: any trailing data axes (e.g. n frames, d channels)

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.flow.masking import expand_mask
from flowvox.flow.solvers import VelocityFn, solve


@dataclass(frozen=True)
class StraightnessResult:
    """per_sample: (b,) S of each trajectory (per valid element); mean: 0-d, over the batch.
    x_1: (b, ...) end points of the trajectories. nfe: velocity evaluations made in all."""

    per_sample: Tensor
    mean: Tensor
    x_1: Tensor
    nfe: int


@torch.no_grad()
def trajectory_straightness(
    velocity_fn: VelocityFn,
    x_0: Tensor,
    grid: Tensor,
    mask: Tensor | None = None,
    *,
    method: str = "euler",
) -> StraightnessResult:
    """Per trajectory started at ``x_0`` (b, ...), with x_1 its end point,

        S = ∫_0^1 ||(x_1 - x_0) - v(x_t, t)||² dt / (valid elements)

    (trapezoid rule over the grid points, see the module docstring); ``mean`` averages S
    over the batch, estimating E_{x_0}.

    Args:
        velocity_fn: (x, t) -> v, x (b, ...), t (b,).
        x_0: (b, ...) start points (noise).
        grid: (k,) increasing times from 0 to 1 (e.g. ``time_grid(nfe)``).
        mask: None, (b, n) padding mask (True = valid), or x_0's shape.
        method: the solver that produces the trajectory (the inference one).
    """
    valid = expand_mask(mask, x_0)  # (b, ...) bool
    count = valid.flatten(1).sum(dim=1).clamp_min(1).to(x_0.dtype)  # (b,)
    result = solve(velocity_fn, x_0, grid, method, return_trajectory=True)
    x_1 = result.x
    chord = x_1 - x_0  # (b, ...)
    grid = grid.to(device=x_0.device, dtype=x_0.dtype)
    b = x_0.shape[0]
    gaps = []  # ||(x_1 - x_0) - v(x_t, t)||² per sample at each grid point
    for t, x_t in zip(grid, result.trajectory, strict=True):
        v = velocity_fn(x_t, t.expand(b))  # (b, ...)
        gap = torch.where(valid, chord - v, 0.0).square().flatten(1).sum(dim=1)  # (b,)
        gaps.append(gap / count)
    gaps = torch.stack(gaps)  # (k, b)
    widths = (grid[1:] - grid[:-1])[:, None]  # (k - 1, 1)
    per_sample = (0.5 * widths * (gaps[1:] + gaps[:-1])).sum(dim=0)  # (b,) trapezoid rule
    return StraightnessResult(per_sample, per_sample.mean(), x_1, result.nfe + len(grid))
