"""Divergence of a velocity field, div v = trace(dv/dx), per sample and over valid elements.

Both estimators assume the field does not mix samples of the batch (row i of v depends only
on row i of x), which holds for any model that treats samples independently.
"""
# b: batch; k: probes; "..." after b: any trailing data axes (e.g. n frames, d channels)

from __future__ import annotations

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError

PROBES = ("rademacher", "gaussian")


def exact_divergence(v: Tensor, x: Tensor, valid: Tensor) -> Tensor:
    """sum_i valid_i * dv_i/dx_i, one backward pass per element of a sample: (b,).

    Args:
        v: (b, ...) velocity computed from x with autograd on.
        x: (b, ...) the input that requires grad.
        valid: (b, ...) bool; False elements are left out of the trace.

    Cost grows with the elements per sample; meant for small inputs and checks.
    """
    v_flat = v.flatten(1)  # (b, D)
    valid_flat = valid.flatten(1)  # (b, D)
    div = torch.zeros(x.shape[0], dtype=v.dtype, device=v.device)
    for i in range(v_flat.shape[1]):
        if not bool(valid_flat[:, i].any()):
            continue  # padding in every sample: skip the backward pass
        (grad,) = torch.autograd.grad(v_flat[:, i].sum(), x, retain_graph=True)  # (b, ...)
        div = div + torch.where(valid_flat[:, i], grad.flatten(1)[:, i], 0.0)
    return div


def hutchinson_divergence(v: Tensor, x: Tensor, probes: Tensor) -> Tensor:
    """Skilling-Hutchinson estimate mean_k eps_k^T (dv/dx) eps_k, unbiased: (b,).

    Args:
        v: (b, ...) velocity computed from x with autograd on.
        x: (b, ...) the input that requires grad.
        probes: (k, b, ...) with E[eps eps^T] = I on valid elements and 0 at padding,
            which restricts the trace to valid elements.
    """
    estimates = []
    for eps in probes:  # eps: (b, ...)
        (eps_jac,) = torch.autograd.grad(v, x, grad_outputs=eps, retain_graph=True)  # eps^T J
        estimates.append((eps_jac * eps).flatten(1).sum(dim=1))  # (b,)
    return torch.stack(estimates).mean(dim=0)


def draw_probes(
    like: Tensor,
    valid: Tensor,
    *,
    num_probes: int,
    probe: str,
    generator: torch.Generator,
) -> Tensor:
    """Probe vectors (k, b, ...) for hutchinson_divergence, zero at padding.

    rademacher: +-1 with equal odds (lowest variance); gaussian: N(0, 1).
    Drawn on the generator's device, then moved to ``like``'s device and dtype.
    """
    if num_probes < 1:
        raise FlowvoxError(f"num_probes={num_probes} must be at least 1")
    shape = (num_probes, *like.shape)
    if probe == "rademacher":
        bits = torch.randint(0, 2, shape, generator=generator, device=generator.device)
        eps = bits.to(like.dtype) * 2 - 1
    elif probe == "gaussian":
        eps = torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype)
    else:
        raise FlowvoxError(f"unknown probe {probe!r}; choose one of {PROBES}")
    eps = eps.to(like.device)
    return torch.where(valid, eps, 0.0)  # (k, b, ...), valid broadcasts over k
