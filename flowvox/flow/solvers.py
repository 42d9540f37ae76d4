"""ODE solvers for dx/dt = v(x, t): fixed-grid Euler, midpoint, RK4, and adaptive dopri5.

The state is a tensor (b, ...) or a tuple of tensors that share the batch axis (an augmented
state, e.g. (x, log-det accumulator) for likelihood); velocity_fn returns the same structure.
Grids may decrease (integrate from data back to noise). Gradient mode is left to the caller:
wrap sampling in ``torch.inference_mode()`` yourself.
"""
# b: batch; k: grid points; "..." after b: any trailing data axes

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError

State = Tensor | tuple[Tensor, ...]
VelocityFn = Callable[[State, Tensor], State]  # (state, t of shape (b,)) -> d state / dt

FIXED_STEP_METHODS = ("euler", "midpoint", "rk4")
ADAPTIVE_METHODS = ("dopri5",)


@dataclass(frozen=True)
class SolveResult:
    """x: state at grid[-1]. nfe: velocity_fn calls actually made.
    trajectory: states at every grid point (grid[0] first) when asked for, else None."""

    x: State
    nfe: int
    trajectory: list[State] | None = None


def solve(
    velocity_fn: VelocityFn,
    x_init: State,
    grid: Tensor | None,
    method: str = "euler",
    *,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    return_trajectory: bool = False,
) -> SolveResult:
    """Integrate dx/dt = velocity_fn(x, t) from grid[0] to grid[-1].

    Args:
        velocity_fn: (state, t) -> velocity with the state's structure; t has shape (b,).
        x_init: state at grid[0]: (b, ...) tensor or tuple of such tensors.
        grid: (k,) strictly monotone times. Fixed-step methods step between consecutive
            points. dopri5 chooses its own steps and reports the state at these points;
            None means [0, 1] for dopri5 (fixed-step methods need a grid).
        method: "euler" (1 call per step), "midpoint" (2), "rk4" (4), or "dopri5" (adaptive).
        rtol, atol: dopri5 tolerances (ignored by fixed-step methods).
        return_trajectory: also return the state at every grid point.
    """
    x_ref = x_init[0] if isinstance(x_init, tuple) else x_init
    grid = _check_grid(grid, method, x_ref)
    counted = _CountingVelocity(velocity_fn, batch_size=x_ref.shape[0])
    if method in FIXED_STEP_METHODS:
        step = _STEPS[method]
        x, trajectory = x_init, [x_init]
        for t0, t1 in zip(grid[:-1], grid[1:], strict=True):
            x = step(counted, x, t0, t1 - t0)
            if return_trajectory:
                trajectory.append(x)
    else:
        trajectory = _dopri5(counted, x_init, grid, rtol=rtol, atol=atol)
        x = trajectory[-1]
    return SolveResult(x=x, nfe=counted.calls, trajectory=trajectory if return_trajectory else None)


class _CountingVelocity:
    """Wraps velocity_fn: takes a 0-d time, hands the model t of shape (b,), counts calls."""

    def __init__(self, velocity_fn: VelocityFn, batch_size: int) -> None:
        self.velocity_fn = velocity_fn
        self.batch_size = batch_size
        self.calls = 0

    def __call__(self, x: State, t: Tensor) -> State:
        self.calls += 1
        return self.velocity_fn(x, t.expand(self.batch_size))  # (b,)


# --- fixed-grid steps: x(t0) -> x(t0 + h); h may be negative ---------------------------------


def _euler_step(f: _CountingVelocity, x: State, t0: Tensor, h: Tensor) -> State:
    """x + h v(x, t0). Order 1."""
    return _add(x, h, f(x, t0))


def _midpoint_step(f: _CountingVelocity, x: State, t0: Tensor, h: Tensor) -> State:
    """x + h v(x + h/2 v(x, t0), t0 + h/2). Order 2."""
    x_mid = _add(x, h / 2, f(x, t0))
    return _add(x, h, f(x_mid, t0 + h / 2))


def _rk4_step(f: _CountingVelocity, x: State, t0: Tensor, h: Tensor) -> State:
    """Classic Runge-Kutta: x + h/6 (k1 + 2 k2 + 2 k3 + k4). Order 4."""
    k1 = f(x, t0)
    k2 = f(_add(x, h / 2, k1), t0 + h / 2)
    k3 = f(_add(x, h / 2, k2), t0 + h / 2)
    k4 = f(_add(x, h, k3), t0 + h)
    slope = _map(lambda a, b, c, d: a + 2 * b + 2 * c + d, k1, k2, k3, k4)
    return _add(x, h / 6, slope)


_STEPS = {"euler": _euler_step, "midpoint": _midpoint_step, "rk4": _rk4_step}


# --- adaptive ----------------------------------------------------------------------------


def _dopri5(
    f: _CountingVelocity, x_init: State, grid: Tensor, *, rtol: float, atol: float
) -> list[State]:
    """Dormand-Prince 5(4) through torchdiffeq; returns the state at every grid point."""
    try:
        from torchdiffeq import odeint
    except ImportError as error:
        raise FlowvoxError("method='dopri5' needs torchdiffeq: pip install torchdiffeq") from error
    solution = odeint(lambda t, x: f(x, t), x_init, grid, method="dopri5", rtol=rtol, atol=atol)
    # odeint stacks along a new leading axis: (k, b, ...) per tensor of the state.
    return [_map(lambda s, i=i: s[i], solution) for i in range(len(grid))]


# --- helpers -----------------------------------------------------------------------------


def _map(fn: Callable[..., Tensor], *states: State) -> State:
    """Apply fn to matching tensors of one or more states (tensor or tuple of tensors)."""
    if isinstance(states[0], tuple):
        return tuple(fn(*parts) for parts in zip(*states, strict=True))
    return fn(*states)


def _add(x: State, h: Tensor, v: State) -> State:
    """x + h v for each tensor of the state."""
    return _map(lambda a, b: a + h * b, x, v)


def _check_grid(grid: Tensor | None, method: str, x_ref: Tensor) -> Tensor:
    """Validate and move the grid next to the state (float32 at least, float64 kept)."""
    if method not in FIXED_STEP_METHODS + ADAPTIVE_METHODS:
        raise FlowvoxError(
            f"unknown ODE method {method!r}; choose one of {FIXED_STEP_METHODS + ADAPTIVE_METHODS}"
        )
    if grid is None:
        if method in FIXED_STEP_METHODS:
            raise FlowvoxError(
                f"method={method!r} needs a time grid, e.g. flowvox.flow.time_grid(32)"
            )
        grid = torch.tensor([0.0, 1.0])
    dtype = torch.promote_types(x_ref.dtype, torch.float32)
    grid = torch.as_tensor(grid).to(device=x_ref.device, dtype=dtype)
    if grid.ndim != 1 or grid.numel() < 2:
        raise FlowvoxError(f"time grid must be 1-D with at least 2 points, got {tuple(grid.shape)}")
    steps = grid[1:] - grid[:-1]
    if not (bool((steps > 0).all()) or bool((steps < 0).all())):
        raise FlowvoxError("time grid must be strictly increasing or strictly decreasing")
    return grid
