"""Likelihood against the closed-form density of an affine flow between Gaussians.

The flow x_t = ((1 - t) I + t A) x_0 + t mu (per frame, A symmetric positive definite) maps
N(0, I) at t=0 to N(mu, A A^T) at t=1. With M_t = (1 - t) I + t A its velocity is
    v(x, t) = (A - I) M_t^{-1} (x - t mu) + mu,
and the exact density of data x_1 is log N(x_0; 0, I) - log|det A|, x_0 = A^{-1}(x_1 - mu).
A is not diagonal, so the Jacobian has off-diagonal terms (Hutchinson has real variance).
"""
# b: batch, n: frames, d: channels

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import log_likelihood

F64 = torch.float64
D = 3
SCALES = torch.tensor([0.5, 1.5, 2.5], dtype=F64)  # eigenvalues of A; log|det A| = 0.628
Q = torch.linalg.qr(torch.randn(D, D, dtype=F64, generator=torch.Generator().manual_seed(0)))[0]
A = Q @ torch.diag(SCALES) @ Q.T
MU = torch.tensor([0.3, -1.0, 2.0], dtype=F64)
RUNS = 200  # Hutchinson repeats: SE about 0.16-0.24 nats per utterance


def velocity(x, t):
    """v(x, t) for x (b, n, d), t (b,), via the eigenbasis of A."""
    t = t[:, None, None]  # (b, 1, 1)
    rate = (SCALES - 1) / (1 - t + t * SCALES)  # (b, 1, d) eigenvalues of (A - I) M_t^{-1}
    return ((x - t * MU) @ Q * rate) @ Q.T + MU


def data(b, n, seed):
    x_0 = torch.randn(b, n, D, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return x_0 @ A + MU  # A symmetric


def closed_form(x_1, lengths):
    """log p_1(x_1) summed over the first lengths[i] frames of each sample: (b,)."""
    x_0 = (x_1 - MU) @ torch.linalg.inv(A)
    per_frame = -0.5 * (x_0.square().sum(-1) + D * math.log(2 * math.pi))
    per_frame = per_frame - torch.log(SCALES).sum()  # (b, n)
    return torch.stack([per_frame[i, :length].sum() for i, length in enumerate(lengths)])


def padded_batch(pad_value_seed=5):
    """Sample 0 has 6 valid frames, sample 1 has 4 then 2 frames of large junk."""
    x_1 = data(2, 6, seed=1)
    junk = torch.randn(2, D, dtype=F64, generator=torch.Generator().manual_seed(pad_value_seed))
    x_1[1, 4:] = 50 * junk
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2], dtype=torch.bool)
    return x_1, mask


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_exact_divergence_matches_closed_form(method):
    x_1, mask = padded_batch()
    out = log_likelihood(velocity, x_1, mask, method=method, num_steps=32, rtol=1e-9, atol=1e-9)
    expected = closed_form(x_1, [6, 4])
    error = (out.log_prob - expected).abs().max().item()
    print(f"\nexact divergence, {method}: nfe {out.nfe}, max |error| {error:.3e} nats")
    assert error < 1e-3
    assert out.num_elements.tolist() == [18, 12]
    torch.testing.assert_close(out.nats_per_element, out.log_prob / torch.tensor([18.0, 12.0]))
    if method == "rk4":
        assert out.nfe == 4 * 32


def test_sign_wrong_direction_would_fail():
    """The divergence term is -log|det A| per frame: check it is not dropped or flipped."""
    x_1 = data(1, 2, seed=3)
    out = log_likelihood(velocity, x_1, method="rk4", num_steps=16)
    x_0 = (x_1 - MU) @ torch.linalg.inv(A)
    prior = -0.5 * (x_0.square().sum() + 2 * D * math.log(2 * math.pi))
    log_det_term = out.log_prob - prior  # should be -2 log|det A| = -1.2566
    assert log_det_term.item() == pytest.approx(-2 * torch.log(SCALES).sum().item(), abs=1e-4)


def test_padding_does_not_change_valid_results():
    x_1, mask = padded_batch()
    out = log_likelihood(velocity, x_1, mask, method="rk4", num_steps=16)
    alone = log_likelihood(velocity, x_1[1:, :4], method="rk4", num_steps=16)
    torch.testing.assert_close(out.log_prob[1:], alone.log_prob, rtol=0, atol=1e-10)
    other_junk, _ = padded_batch(pad_value_seed=9)
    again = log_likelihood(velocity, other_junk, mask, method="rk4", num_steps=16)
    torch.testing.assert_close(again.log_prob, out.log_prob, rtol=0, atol=1e-10)


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_within_three_standard_errors(probe):
    x_1, mask = padded_batch()
    expected = closed_form(x_1, [6, 4])
    runs = torch.stack(
        [
            log_likelihood(
                velocity,
                x_1,
                mask,
                divergence="hutchinson",
                probe=probe,
                num_probes=2,
                generator=torch.Generator().manual_seed(seed),
                method="rk4",
                num_steps=8,
            ).log_prob
            for seed in range(RUNS)
        ]
    )  # (runs, b)
    mean, se = runs.mean(0), runs.std(0) / runs.shape[0] ** 0.5
    error = mean - expected
    print(
        f"\nhutchinson {probe} (2 probes x {RUNS} runs, rk4 8 steps): error {error.tolist()}, "
        f"SE {se.tolist()}, per-run std {runs.std(0).tolist()}"
    )
    assert bool((se > 0).all())  # A is not diagonal: a single estimate really varies
    assert bool((error.abs() < 3 * se).all())


def test_hutchinson_padding_and_generator():
    x_1, mask = padded_batch()
    kwargs = dict(divergence="hutchinson", num_probes=3, method="rk4", num_steps=8)
    first = log_likelihood(
        velocity, x_1, mask, generator=torch.Generator().manual_seed(4), **kwargs
    )
    other_junk, _ = padded_batch(pad_value_seed=9)
    same = log_likelihood(
        velocity, other_junk, mask, generator=torch.Generator().manual_seed(4), **kwargs
    )
    torch.testing.assert_close(same.log_prob, first.log_prob, rtol=0, atol=1e-10)
    other = log_likelihood(
        velocity, x_1, mask, generator=torch.Generator().manual_seed(5), **kwargs
    )
    assert not torch.allclose(other.log_prob, first.log_prob)
    default = log_likelihood(velocity, x_1, mask, **kwargs)  # no generator: seeded 0
    again = log_likelihood(velocity, x_1, mask, **kwargs)
    assert torch.equal(default.log_prob, again.log_prob)


def test_user_errors():
    x_1, mask = padded_batch()
    with torch.inference_mode(), pytest.raises(FlowvoxError, match="inference_mode"):
        log_likelihood(velocity, x_1)
    with pytest.raises(FlowvoxError, match="no valid elements"):
        log_likelihood(velocity, x_1, torch.zeros_like(mask))
    with pytest.raises(FlowvoxError, match="t=1"):
        log_likelihood(velocity, x_1, grid=torch.linspace(0, 1, 5))
    with pytest.raises(FlowvoxError, match="divergence"):
        log_likelihood(velocity, x_1, divergence="trace")
