"""Cross-checks against the oracle packages ``torchcfm`` and ``flow_matching``.

A missing oracle skips these tests, or fails them under FLOWVOX_REQUIRE_PEERS=1 (``make test``):
see tests/peers/require.py. Both come with ``pip install -e '.[test]'``.
"""
# b: batch, n: frames, d: channels

import math

import pytest
import torch

from flowvox.flow import OTCFMPath, RectifiedPath, log_likelihood, solve, time_grid
from tests.peers.require import import_peer

F64 = torch.float64
TORCHCFM = "pip install 'torchcfm>=1.0.5' (or pip install -e '.[test]')"
FLOW_MATCHING = "pip install 'flow-matching>=1.0.9' (or pip install -e '.[test]')"


def _draw(shape=(6, 4, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    x_0 = torch.randn(shape, generator=g, dtype=F64)
    x_1 = torch.randn(shape, generator=g, dtype=F64)
    return x_0, x_1, torch.rand(shape[0], generator=g, dtype=F64)


def test_rectified_path_matches_torchcfm():
    torchcfm = import_peer("torchcfm", TORCHCFM)
    x_0, x_1, t = _draw()
    matcher = torchcfm.ConditionalFlowMatcher(sigma=0.0)  # mu_t = t x1 + (1 - t) x0, no noise
    t_out, x_t, u_t = matcher.sample_location_and_conditional_flow(x_0, x_1, t)
    ours = RectifiedPath().sample(x_0, x_1, t)
    assert torch.equal(t_out, t)
    torch.testing.assert_close(ours.x_t, x_t, rtol=0, atol=1e-14)
    torch.testing.assert_close(ours.u_t, u_t, rtol=0, atol=1e-14)


@pytest.mark.parametrize("sigma", [1e-4, 0.1, 0.5])
def test_otcfm_path_matches_torchcfm_target_matcher(sigma):
    """Lipman's target CFM with the noise taken as x_0 is the OT-CFM path with sigma_min."""
    torchcfm = import_peer("torchcfm", TORCHCFM)
    x_0, x_1, t = _draw(seed=1)
    matcher = torchcfm.TargetConditionalFlowMatcher(sigma=sigma)
    x_t = matcher.sample_xt(x_0, x_1, t, epsilon=x_0)  # t x1 + (1 - (1 - sigma) t) x0
    u_t = matcher.compute_conditional_flow(x_0, x_1, t, x_t)
    ours = OTCFMPath(sigma_min=sigma).sample(x_0, x_1, t)
    torch.testing.assert_close(ours.x_t, x_t, rtol=0, atol=1e-13)
    torch.testing.assert_close(ours.u_t, u_t, rtol=1e-12, atol=1e-12)


def test_rectified_path_matches_flow_matching_cond_ot():
    path = import_peer("flow_matching.path", FLOW_MATCHING)
    scheduler = import_peer("flow_matching.path.scheduler", FLOW_MATCHING)

    x_0, x_1, t = _draw(seed=2)
    affine = path.AffineProbPath(scheduler=scheduler.CondOTScheduler())
    theirs = affine.sample(x_0=x_0, x_1=x_1, t=t)
    ours = RectifiedPath().sample(x_0, x_1, t)
    torch.testing.assert_close(ours.x_t, theirs.x_t, rtol=0, atol=1e-14)
    torch.testing.assert_close(ours.u_t, theirs.dx_t, rtol=0, atol=1e-14)


A = torch.tensor([[-0.5, 0.8, 0.0], [-0.3, 0.1, 0.4], [0.2, 0.0, -1.0]], dtype=F64)
B = torch.tensor([0.5, -1.0, 0.25], dtype=F64)


def linear_field(x, t):
    """v = x A^T + t b; t may be (b,) (ours) or 0-d (flow_matching passes a scalar)."""
    return x @ A.T + t.reshape(-1, *([1] * (x.ndim - 1))) * B


@pytest.mark.parametrize("method", ["euler", "midpoint"])
@pytest.mark.parametrize("kind", ["uniform", "sway"])
def test_solvers_match_flow_matching_ode_solver(method, kind):
    solver = import_peer("flow_matching.solver", FLOW_MATCHING)

    x_init = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(3))
    grid = time_grid(12, kind, dtype=F64)
    theirs = solver.ODESolver(velocity_model=linear_field).sample(
        x_init=x_init, step_size=None, method=method, time_grid=grid
    )
    ours = solve(linear_field, x_init, grid, method)
    torch.testing.assert_close(ours.x, theirs, rtol=1e-13, atol=1e-13)


def test_exact_likelihood_matches_flow_matching():
    solver = import_peer("flow_matching.solver", FLOW_MATCHING)

    x_1 = torch.randn(5, 3, dtype=F64, generator=torch.Generator().manual_seed(4))
    grid = torch.linspace(1.0, 0.0, 17, dtype=F64)

    def log_p0(x):
        return -0.5 * (x.square().sum(1) + x.shape[1] * math.log(2 * math.pi))

    _, theirs = solver.ODESolver(velocity_model=linear_field).compute_likelihood(
        x_1=x_1,
        log_p0=log_p0,
        step_size=None,
        method="midpoint",
        time_grid=grid,
        exact_divergence=True,
    )
    ours = log_likelihood(linear_field, x_1, method="midpoint", grid=grid)
    torch.testing.assert_close(ours.log_prob, theirs, rtol=1e-12, atol=1e-12)
