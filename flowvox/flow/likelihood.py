"""Log-likelihood of data under a flow: integrate data (t=1) back to noise (t=0).

Derivation. Along dx/dt = v(x, t) the density obeys the instantaneous change of variables
    d/dt log p_t(x_t) = -div v(x_t, t).
Integrating from 0 to 1:
    log p_1(x_1) = log p_0(x_0) - int_0^1 div v(x_t, t) dt = log p_0(x_0) + int_1^0 div v dt.
So we solve the augmented ODE d(x, a)/dt = (v, div v) from t=1 to t=0 with x(1) = x_1,
a(1) = 0; then a(0) = int_1^0 div v dt and
    log p_1(x_1) = log N(x_0; 0, I) + a(0)        (x_0 = x(0)).
(Running forwards 0 -> 1 instead, the accumulator enters with a minus sign.)
Padding: the field sees the full tensor, but the prior, the divergence and the element
counts use valid elements only.
"""
# b: batch, n: frames, d: channels; k: probes

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.flow.divergence import draw_probes, exact_divergence, hutchinson_divergence
from flowvox.flow.masking import expand_mask
from flowvox.flow.solvers import FIXED_STEP_METHODS, VelocityFn, solve

DIVERGENCES = ("exact", "hutchinson")


@dataclass(frozen=True)
class LikelihoodResult:
    """log_prob: (b,) nats per utterance (sum over valid elements).
    nats_per_element: (b,) log_prob / num_elements.
    num_elements: (b,) valid elements per utterance (frames x channels).
    nfe: velocity evaluations made by the solver."""

    log_prob: Tensor
    nats_per_element: Tensor
    num_elements: Tensor
    nfe: int


def log_likelihood(
    velocity_fn: VelocityFn,
    x_1: Tensor,
    mask: Tensor | None = None,
    *,
    divergence: str = "exact",
    probe: str = "rademacher",
    num_probes: int = 1,
    generator: torch.Generator | None = None,
    probes: Tensor | None = None,
    method: str = "rk4",
    num_steps: int = 32,
    grid: Tensor | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> LikelihoodResult:
    """log p_1(x_1) under the flow whose velocity is velocity_fn, prior N(0, I) at t=0.

    Args:
        velocity_fn: (x, t) -> v, x (b, n, d), t (b,). Must be differentiable in x.
        x_1: (b, n, d) data (any (b, ...) shape works).
        mask: None, (b, n) padding mask (True = valid), or x_1's shape.
        divergence: "exact" (one backward pass per element: small inputs) or "hutchinson".
        probe, num_probes: Hutchinson probes, "rademacher" or "gaussian"; k probes are drawn
            once per call and held fixed along the trajectory (FFJORD), zero at padding.
        generator: source of the probes; None means a fresh generator seeded 0.
        probes: (k, b, ...) Hutchinson probes to use instead of drawing them (zero them at
            padding), e.g. drawn per sample so a score does not depend on its batch.
        method: any solve() method. num_steps: steps of the uniform grid 1 -> 0 used by
            fixed-step methods when grid is None. grid: explicit decreasing grid from 1 to 0.
        rtol, atol: dopri5 tolerances.

    Not differentiable with respect to model parameters (evaluation only). Do not call
    under torch.inference_mode(): the divergence needs autograd.
    """
    if torch.is_inference_mode_enabled():
        raise FlowvoxError("log_likelihood needs autograd: call it outside torch.inference_mode()")
    if divergence not in DIVERGENCES:
        raise FlowvoxError(f"unknown divergence {divergence!r}; choose one of {DIVERGENCES}")
    valid = expand_mask(mask, x_1)  # (b, n, d) bool
    num_elements = valid.flatten(1).sum(dim=1)  # (b,)
    if bool((num_elements == 0).any()):
        raise FlowvoxError("mask leaves a sample with no valid elements; drop it from the batch")
    grid = _backward_grid(grid, method, num_steps)

    if divergence == "exact":
        probes = None
    elif probes is not None:
        if probes.ndim != x_1.ndim + 1 or probes.shape[1:] != x_1.shape:
            raise FlowvoxError(
                f"probes {tuple(probes.shape)} must be (k, *x_1.shape) = (k, {tuple(x_1.shape)})"
            )
        probes = torch.where(valid, probes.to(x_1), 0.0)  # (k, b, n, d)
    else:
        if generator is None:
            generator = torch.Generator(device=x_1.device).manual_seed(0)
        probes = draw_probes(
            x_1, valid, num_probes=num_probes, probe=probe, generator=generator
        )  # (k, b, n, d)

    def augmented(state: tuple[Tensor, Tensor], t: Tensor) -> tuple[Tensor, Tensor]:
        """d(x, a)/dt = (v(x, t), div v(x, t)) over valid elements."""
        x, _ = state
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            v = velocity_fn(x, t)  # (b, n, d)
            if probes is None:
                div = exact_divergence(v, x, valid)  # (b,)
            else:
                div = hutchinson_divergence(v, x, probes)  # (b,)
        return v.detach(), div.detach()

    accumulator = torch.zeros(x_1.shape[0], dtype=x_1.dtype, device=x_1.device)  # a(1) = 0
    result = solve(augmented, (x_1, accumulator), grid, method, rtol=rtol, atol=atol)
    x_0, int_1_to_0_div = result.x  # (b, n, d), (b,)

    log_prior = torch.where(valid, -0.5 * (x_0.square() + math.log(2 * math.pi)), 0.0)
    log_prob = log_prior.flatten(1).sum(dim=1) + int_1_to_0_div  # (b,)
    return LikelihoodResult(
        log_prob=log_prob,
        nats_per_element=log_prob / num_elements.to(log_prob.dtype),
        num_elements=num_elements,
        nfe=result.nfe,
    )


def _backward_grid(grid: Tensor | None, method: str, num_steps: int) -> Tensor:
    """The grid from t=1 to t=0: given, or uniform with num_steps steps (dopri5: [1, 0])."""
    if grid is None:
        if method in FIXED_STEP_METHODS:
            if num_steps < 1:
                raise FlowvoxError(f"num_steps={num_steps} must be at least 1")
            return torch.linspace(1.0, 0.0, num_steps + 1)
        return torch.tensor([1.0, 0.0])
    if grid.ndim != 1 or grid.numel() < 2 or float(grid[0]) != 1.0 or float(grid[-1]) != 0.0:
        raise FlowvoxError("likelihood grid must run from t=1 (data) down to t=0 (noise)")
    return grid
