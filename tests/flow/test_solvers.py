"""Solvers against exact answers: constant and linear fields, convergence order, NFE counts."""
# b: batch, d: channels

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import solve, sway, time_grid, uniform_grid

FIXED = ["euler", "midpoint", "rk4"]
ALL = [*FIXED, "dopri5"]
STAGES = {"euler": 1, "midpoint": 2, "rk4": 4}
F64 = torch.float64


def _grid(n, reverse=False):
    grid = uniform_grid(n, dtype=F64)
    return grid.flip(0) if reverse else grid


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("reverse", [False, True])
def test_constant_field_is_exact(method, reverse):
    a = torch.tensor([[1.5, -2.0, 0.25]], dtype=F64).expand(2, 3)
    x_init = torch.randn(2, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    grid = sway(_grid(7), -1.0)  # non-uniform steps
    grid = grid.flip(0) if reverse else grid
    out = solve(lambda x, t: a, x_init, grid, method, rtol=1e-10, atol=1e-10)
    span = float(grid[-1] - grid[0])  # +1 or -1
    torch.testing.assert_close(out.x, x_init + span * a, rtol=0, atol=1e-12)


# One step of each method on dx/dt = lam x multiplies x by this polynomial of z = lam h.
AMPLIFICATION = {
    "euler": lambda z: 1 + z,
    "midpoint": lambda z: 1 + z + z**2 / 2,
    "rk4": lambda z: 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24,
}


@pytest.mark.parametrize("method", FIXED)
@pytest.mark.parametrize("reverse", [False, True])
def test_linear_field_matches_discrete_closed_form(method, reverse):
    lam, n = -1.3, 10
    x_init = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=F64)
    out = solve(lambda x, t: lam * x, x_init, _grid(n, reverse), method)
    h = -1.0 / n if reverse else 1.0 / n
    expected = x_init * AMPLIFICATION[method](lam * h) ** n
    torch.testing.assert_close(out.x, expected, rtol=1e-13, atol=0)
    exact = x_init * math.exp(-lam if reverse else lam)
    relative = ((out.x - exact) / exact).abs().max()
    assert relative < {"euler": 0.1, "midpoint": 5e-3, "rk4": 1e-5}[method]


@pytest.mark.parametrize("reverse", [False, True])
def test_dopri5_linear_field_within_tolerance(reverse):
    lam = -1.3
    x_init = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=F64)
    out = solve(lambda x, t: lam * x, x_init, _grid(1, reverse), "dopri5", rtol=1e-8, atol=1e-10)
    exact = x_init * math.exp(-lam if reverse else lam)
    torch.testing.assert_close(out.x, exact, rtol=1e-6, atol=1e-8)


def _riccati(x, t):
    """dx/dt = -2 t x^2, solution x(t) = x0 / (1 + x0 t^2)."""
    return -2 * t[:, None] * x.square()


RICCATI_X0 = torch.tensor([[0.5], [1.0], [2.0]], dtype=F64)


def _riccati_error(method, n):
    out = solve(_riccati, RICCATI_X0, _grid(n), method)
    return (out.x - RICCATI_X0 / (1 + RICCATI_X0)).abs().max().item()


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_measured_convergence_order(method, order):
    errors = {n: _riccati_error(method, n) for n in (16, 32, 64)}
    coarse = math.log2(errors[16] / errors[32])
    fine = math.log2(errors[32] / errors[64])
    print(f"\n{method}: errors {errors}; order 16->32 {coarse:.3f}, 32->64 {fine:.3f}")
    assert abs(fine - order) < 0.25


@pytest.mark.parametrize("method", ALL)
def test_backward_integration_recovers_start(method):
    x_1 = RICCATI_X0 / (1 + RICCATI_X0)
    out = solve(_riccati, x_1, _grid(64, reverse=True), method, rtol=1e-10, atol=1e-12)
    tol = {"euler": 5e-2, "midpoint": 1e-3, "rk4": 1e-6, "dopri5": 1e-7}[method]
    assert (out.x - RICCATI_X0).abs().max() < tol


@pytest.mark.parametrize("method", FIXED)
@pytest.mark.parametrize("n", [1, 5, 16])
def test_nfe_counts_fixed(method, n):
    calls = []

    def field(x, t):
        calls.append(t.shape)
        return -x

    out = solve(field, torch.ones(3, 2), time_grid(n), method)
    assert out.nfe == len(calls) == STAGES[method] * n
    assert set(calls) == {(3,)}  # the model always sees t of shape (b,)


def test_nfe_count_dopri5_equals_calls():
    calls = []

    def field(x, t):
        calls.append(t.shape)
        return -2 * t[:, None] * x.square()

    out = solve(field, RICCATI_X0, None, "dopri5", rtol=1e-6, atol=1e-8)
    assert out.nfe == len(calls) > 0
    assert set(calls) == {(3,)}


@pytest.mark.parametrize("method", ALL)
def test_trajectory_visits_grid_points(method):
    grid = time_grid(8, "sway").double()
    out = solve(_riccati, RICCATI_X0, grid, method, rtol=1e-10, atol=1e-12, return_trajectory=True)
    assert len(out.trajectory) == len(grid)
    assert torch.equal(out.trajectory[0], RICCATI_X0)
    assert out.trajectory[-1] is out.x or torch.equal(out.trajectory[-1], out.x)
    tol = {"euler": 0.1, "midpoint": 0.01, "rk4": 5e-4, "dopri5": 1e-7}[method]
    for i, (state, t) in enumerate(zip(out.trajectory, grid, strict=True)):
        exact = RICCATI_X0 / (1 + RICCATI_X0 * t**2)
        assert (state - exact).abs().max() < tol
        if method != "dopri5" and i > 0:  # a fixed-step run stopped at grid[i] agrees bit for bit
            assert torch.equal(state, solve(_riccati, RICCATI_X0, grid[: i + 1], method).x)
    assert solve(_riccati, RICCATI_X0, grid, method).trajectory is None


@pytest.mark.parametrize("method", ALL)
def test_augmented_tuple_state(method):
    """(x, a) with dx/dt = lam x, da/dt = sum(x): a(1) = sum(x0) (e^lam - 1) / lam."""
    lam = 0.7
    x_init = torch.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=F64)

    def field(state, t):
        x, _ = state
        return lam * x, x.sum(dim=1)

    state = (x_init, torch.zeros(2, dtype=F64))
    out = solve(field, state, _grid(64), method, rtol=1e-10, atol=1e-12)
    x, a = out.x
    tol = {"euler": 5e-2, "midpoint": 1e-3, "rk4": 1e-8, "dopri5": 1e-8}[method]
    torch.testing.assert_close(x, x_init * math.exp(lam), rtol=0, atol=tol)
    expected_a = x_init.sum(dim=1) * (math.exp(lam) - 1) / lam
    torch.testing.assert_close(a, expected_a, rtol=0, atol=tol)


def test_grid_follows_state_dtype():
    seen = []

    def field(x, t):
        seen.append(t.dtype)
        return torch.zeros_like(x)

    solve(field, torch.zeros(1, 2, dtype=F64), time_grid(2), "euler")
    solve(field, torch.zeros(1, 2, dtype=torch.bfloat16), time_grid(2), "euler")
    assert seen == [F64, F64, torch.float32, torch.float32]


def test_user_errors():
    x = torch.zeros(2, 3)
    with pytest.raises(FlowvoxError, match="unknown ODE method"):
        solve(lambda x, t: x, x, time_grid(2), "heun")
    with pytest.raises(FlowvoxError, match="needs a time grid"):
        solve(lambda x, t: x, x, None, "euler")
    with pytest.raises(FlowvoxError, match="strictly"):
        solve(lambda x, t: x, x, torch.tensor([0.0, 0.5, 0.4, 1.0]), "euler")
    with pytest.raises(FlowvoxError, match="at least 2"):
        solve(lambda x, t: x, x, torch.tensor([0.0]), "euler")
