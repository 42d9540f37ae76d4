"""Time grids for sampling from t=0 (noise) to t=1 (data): uniform, sway, EPSS."""
# k: grid points (nfe + 1)

from __future__ import annotations

import math
from types import MappingProxyType

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError

# EPSS (empirically pruned step sampling, F5-TTS 2025): grid points as multiples of 1/32.
# Values as published in SWivid/F5-TTS (get_epss_timesteps). Dense steps near t=0 (noise),
# where the velocity changes most; sparse near t=1.
EPSS_LATTICE = 32
EPSS_TABLES: MappingProxyType[int, tuple[int, ...]] = MappingProxyType(
    {
        5: (0, 2, 4, 8, 16, 32),
        6: (0, 2, 4, 6, 8, 16, 32),
        7: (0, 2, 4, 6, 8, 16, 24, 32),
        10: (0, 2, 4, 6, 8, 12, 16, 20, 24, 28, 32),
        12: (0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32),
        16: (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32),
    }
)
GRID_KINDS = ("uniform", "sway", "epss")


def uniform_grid(nfe: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """(nfe + 1,) evenly spaced times 0, 1/nfe, ..., 1."""
    _check_nfe(nfe)
    return torch.linspace(0.0, 1.0, nfe + 1, dtype=dtype)


def sway(t: Tensor, s: float = -1.0) -> Tensor:
    """F5-TTS sway sampling: t <- t + s (cos(pi t / 2) - 1 + t), elementwise.

    Keeps 0 and 1 fixed; s < 0 packs steps near t=0, s > 0 near t=1, s = 0 is the identity.
    Restricted to s in [-1, 1], where the map is monotone on [0, 1]
    (d/dt = 1 + s (1 - (pi/2) sin(pi t / 2)) >= 0); for s < -1 it leaves [0, 1].
    """
    if not -1.0 <= s <= 1.0:
        raise FlowvoxError(f"sway coefficient s={s} must lie in [-1, 1] (F5-TTS uses -1)")
    return t + s * (torch.cos(0.5 * math.pi * t) - 1.0 + t)


def epss_grid(nfe: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """(nfe + 1,) EPSS grid for the step counts F5-TTS published (see EPSS_TABLES)."""
    if nfe not in EPSS_TABLES:
        raise FlowvoxError(
            f"no EPSS grid for nfe={nfe}; supported: {sorted(EPSS_TABLES)} "
            "(or use kind='uniform' / 'sway')"
        )
    return torch.tensor(EPSS_TABLES[nfe], dtype=dtype) / EPSS_LATTICE


def time_grid(
    nfe: int,
    kind: str = "uniform",
    sway_coef: float = -1.0,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The front door: (nfe + 1,) increasing times from 0 to 1.

    nfe counts steps, which equals model evaluations for Euler (as F5-TTS counts); a
    midpoint step costs 2 and an RK4 step 4. ``sway_coef`` is used only by kind="sway".
    """
    if kind == "uniform":
        return uniform_grid(nfe, dtype=dtype)
    if kind == "sway":
        return sway(uniform_grid(nfe, dtype=dtype), sway_coef)
    if kind == "epss":
        return epss_grid(nfe, dtype=dtype)
    raise FlowvoxError(f"unknown time grid kind {kind!r}; choose one of {GRID_KINDS}")


def _check_nfe(nfe: int) -> None:
    if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
        raise FlowvoxError(f"nfe={nfe!r} must be a positive integer number of steps")
