"""The three training objectives of T2S-FM: supervised flow matching, the text-only anchor
loss through the frozen decoder, and both.

Notation: x_0 ~ N(0, I) noise, t ~ U[0, 1), v̂ = v_θ(x, t, text) the network, D the frozen
tokenizer's decoder, y the text's bytes, x̂₁ the one-step (Euler) estimate of the endpoint

    x̂₁ = x_t + (1 − t) v̂(x_t, t)

(a) supervised, x_1 = the normalised pre-VQ embeddings of real audio (frozen encoder):

    x_t = (1 − (1 − σ_min) t) x_0 + t x_1,   L = ‖v̂(x_t, t) − (x_1 − (1 − σ_min) x_0)‖²

(b) text_only, NO audio: there is no x_1, so no path point x_t and no velocity target. The
loss is FlowSeq's anchor term alone, the decoder's negative log-likelihood of the text given
the estimate, L = −log p_D(y | x̂₁). The point x_t is built from the model's OWN flow: one
Euler step of it from the noise, without gradient,

    x_t = x_0 + t · sg(v̂(x_0, 0))

so that x̂₁ = x_t + (1 − t) v̂(x_t, t) is exactly what the 2-step Euler sampler on the grid
(0, t, 1) returns (and, as t -> 0, the 1-step sampler x_0 + v̂(x_0, 0)). Rationale: the
states the network meets when sampling are points of its own trajectories, not of an OT
path to data it never sees; training on them makes every Euler step from such a point land
where the decoder reads the text, at 1 and 2 steps exactly and at more steps approximately
(a K-step sampler meets more points of the same trajectory). The alternatives are worse:
x_t = x_0 at every t (only the 1-step sampler is trained, v at t > 0 is never defined), or
a path towards a stop-gradient estimate that moves with the model (a target that chases
itself). Honest limits: nothing ties x̂₁ to the distribution of real embeddings, only to
what the decoder can read, and text-only training has no unconditional target, so the task
trains it without text dropout and guidance is off (w = 1).

(c) both: (a)'s loss + λ · the anchor NLL of (a)'s own estimate x̂₁ = x_t + (1 − t) v̂ on the
real path (FlowSeq's anchor loss), one network pass; rows whose text was dropped for
guidance take the flow loss only.

The anchor reads x̂₁ denormalised, and ``through`` "vq" (default) passes it through the
tokenizer's quantiser first (straight-through: the forward value is the nearest code's
vector, the gradient goes to the embedding), so the loss scores the tokens the model will
output; "embeddings" feeds the decoder the continuous estimate (the unquantised teacher's
input). Either way the tokenizer is frozen: gradients pass through it, never into it.
"""
# b: batch, n: semantic frames, d: embedding channels, l: text tokens of the decoder

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from flowvox.flow import OTCFMPath, flow_matching_loss
from flowvox.models.semantic.model import SemanticTokenizer

Velocity = Callable[[Tensor, Tensor], Tensor]  # (x (b, n, d), t (b,)) -> v (b, n, d)


@dataclass(frozen=True)
class TrainingDraw:
    """The random choices of one step: x_0 (b, n, d), t (b,), drop (b,) bool (text dropped)."""

    x_0: Tensor
    t: Tensor
    drop: Tensor


@dataclass(frozen=True)
class ObjectiveTerms:
    """loss: what is backpropagated; flow / anchor: its parts (None when not computed)."""

    loss: Tensor
    flow: Tensor | None
    anchor: Tensor | None


def draw_training(
    shape: torch.Size, drop_prob: float, generator: torch.Generator, device: torch.device
) -> TrainingDraw:
    """x_0 ~ N(0, I) of ``shape`` (b, n, d), t ~ U[0, 1) (b,), drop ~ Bernoulli(p) (b,),
    all from ``generator`` (on its own device), then moved to ``device``."""
    b, gen = shape[0], generator.device
    x_0 = torch.randn(shape, generator=generator, device=gen)
    t = torch.rand(b, generator=generator, device=gen)
    drop = torch.rand(b, generator=generator, device=gen) < drop_prob
    return TrainingDraw(x_0.to(device), t.to(device), drop.to(device))


def one_step_estimate(x_t: Tensor, v: Tensor, t: Tensor) -> Tensor:
    """x̂₁ = x_t + (1 − t) v, x_t and v (b, n, d), t (b,)."""
    return x_t + (1.0 - t)[:, None, None].to(x_t.dtype) * v


def own_flow_point(velocity: Velocity, x_0: Tensor, t: Tensor) -> Tensor:
    """x_t = x_0 + t · v̂(x_0, 0), without gradient (one Euler step of the model's flow)."""
    with torch.no_grad():
        v_0 = velocity(x_0, torch.zeros_like(t))
    return x_0 + t[:, None, None].to(x_0.dtype) * v_0.detach()


def anchor_nll(
    tokenizer: SemanticTokenizer,
    emb: Tensor,
    mask: Tensor,
    inputs: Tensor,
    targets: Tensor,
    through: Literal["vq", "embeddings"] = "vq",
) -> Tensor:
    """Mean over real target tokens of −log p_D(y | emb): emb (b, n, d) denormalised
    estimates, mask (b, n), decoder inputs / targets (b, l) (−100: ignored). 0 (attached
    to the graph) when no target is left."""
    if through == "vq":
        emb = tokenizer.quantize(emb, mask).quantized  # straight-through: value of the codes
    logits = tokenizer.decode_logits(emb, inputs, mask)  # (b, l, v)
    if not bool((targets != -100).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100)


def supervised_terms(
    velocity: Velocity,
    x_1: Tensor,
    mask: Tensor,
    draw: TrainingDraw,
    sigma_min: float,
    anchor: Callable[[Tensor], Tensor] | None = None,
    anchor_weight: float = 0.0,
) -> ObjectiveTerms:
    """(a), and (c) when ``anchor`` (x̂₁ (b, n, d) -> NLL) is given: the flow MSE on the OT
    path + ``anchor_weight`` · anchor(x̂₁) of the same pass."""
    path = OTCFMPath(sigma_min).sample(draw.x_0, x_1, draw.t)
    v = velocity(path.x_t, draw.t)  # (b, n, d)
    flow = flow_matching_loss(v, path.u_t, mask)
    if anchor is None:
        return ObjectiveTerms(flow, flow, None)
    nll = anchor(one_step_estimate(path.x_t, v, draw.t))
    return ObjectiveTerms(flow + anchor_weight * nll, flow, nll)


def text_only_terms(
    velocity: Velocity, draw: TrainingDraw, anchor: Callable[[Tensor], Tensor]
) -> ObjectiveTerms:
    """(b): anchor(x̂₁) with x_t = x_0 + t sg(v̂(x_0, 0)) and x̂₁ = x_t + (1 − t) v̂(x_t, t)."""
    x_t = own_flow_point(velocity, draw.x_0, draw.t)
    nll = anchor(one_step_estimate(x_t, velocity(x_t, draw.t), draw.t))
    return ObjectiveTerms(nll, None, nll)
