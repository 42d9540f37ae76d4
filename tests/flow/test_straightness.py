"""Trajectory straightness S = E ∫ ||(x_1 - x_0) - v(x_t, t)||² dt: exact cases and reflow."""
# b: batch, n: frames, d: channels

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from flowvox.flow import RectifiedPath, flow_matching_loss, solve, time_grid
from flowvox.flow.straightness import trajectory_straightness


def test_a_constant_field_is_perfectly_straight():
    gen = torch.Generator().manual_seed(0)
    shift = torch.randn(3, 5, 2, generator=gen, dtype=torch.float64)
    x_0 = torch.randn(3, 5, 2, generator=gen, dtype=torch.float64)
    result = trajectory_straightness(lambda x, t: shift, x_0, time_grid(4, dtype=torch.float64))
    assert torch.allclose(result.per_sample, torch.zeros(3, dtype=torch.float64), atol=1e-24)
    assert torch.allclose(result.x_1, x_0 + shift) and result.nfe == 4 + 5


def test_a_field_straight_in_time_but_not_in_speed_is_not_straight():
    """v = 2t c runs the chord x_1 - x_0 = c at varying speed: S = ∫ (1 - 2t)² dt |c|²/D."""
    c = torch.tensor([[3.0, 4.0]], dtype=torch.float64)  # |c|² = 25, D = 2
    grid = time_grid(400, dtype=torch.float64)
    result = trajectory_straightness(
        lambda x, t: 2 * t[:, None] * c, torch.zeros_like(c), grid, method="rk4"
    )
    assert float(result.per_sample[0]) == pytest.approx(25 / 2 / 3, rel=1e-4)


@pytest.mark.parametrize("omega", [0.5, 2.0])
def test_a_rotation_matches_its_closed_form(omega):
    """v = ω J x turns x_0 by ω on a circle of radius r at speed ω r; the chord has length
    2 r sin(ω/2) and ∫ v dt = chord, so S = (ω² r² - 4 r² sin²(ω/2)) / D (D = 2 elements)."""
    x_0 = torch.tensor([[1.5, -0.5]], dtype=torch.float64)
    turn = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)  # J: 90° rotation
    grid = time_grid(200, dtype=torch.float64)
    result = trajectory_straightness(lambda x, t: omega * x @ turn.T, x_0, grid, method="rk4")
    r2 = float(x_0.square().sum())
    expected = (omega**2 * r2 - 4 * r2 * math.sin(omega / 2) ** 2) / 2
    assert float(result.per_sample[0]) == pytest.approx(expected, rel=1e-4)
    assert float(result.x_1.square().sum()) == pytest.approx(r2, rel=1e-8)  # stays on the circle


def test_padding_elements_do_not_count():
    gen = torch.Generator().manual_seed(1)
    x_0 = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])

    def field(x, t):  # curved on valid frames, wild at padding
        v = torch.sin(3 * x) + t[:, None, None]
        return torch.where(mask[..., None], v, 1e3 * x.square()) if x.shape[0] == 2 else v

    grid = time_grid(8, dtype=torch.float64)
    both = trajectory_straightness(field, x_0, grid, mask)
    alone = trajectory_straightness(field, x_0[1:, :2], grid)
    assert float(both.per_sample[1]) == pytest.approx(float(alone.per_sample[0]), rel=1e-12)
    assert float(both.per_sample[0]) > 0


def _train(model, x_0_fn, x_1_fn, steps, seed):
    """Rectified flow matching of an MLP on (x_0, x_1) batches."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(steps):
        x_0, x_1 = x_0_fn(step), x_1_fn(step)
        t = torch.rand(x_0.shape[0], generator=gen)
        path = RectifiedPath().sample(x_0, x_1, t)
        loss = flow_matching_loss(model(path.x_t, t), path.u_t)
        opt.zero_grad()
        loss.backward()
        opt.step()


class ToyField(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2)
        )

    def forward(self, x, t):
        return self.net(torch.cat([x, t[:, None]], dim=1))


@pytest.mark.slow
def test_reflow_on_its_own_pairs_straightens_a_toy_flow():
    """2-D noise -> two far clusters: the independent coupling crosses paths (curved flow);
    one round of reflow on (x_0, ODE(x_0)) pairs lowers S markedly."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny MLP: one thread is fastest
    try:
        _reflow_toy()
    finally:
        torch.set_num_threads(threads)


def _reflow_toy():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [-4.0, 0.0]])

    def data(_):
        pick = torch.randint(0, 2, (256,), generator=gen)
        return centres[pick] + 0.3 * torch.randn(256, 2, generator=gen)

    def noise(_):
        return torch.randn(256, 2, generator=gen)

    first = ToyField()
    _train(first, noise, data, 400, seed=1)
    grid = time_grid(16)
    probe = torch.randn(512, 2, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        before = trajectory_straightness(first, probe, grid).mean
        pool_0 = torch.randn(4096, 2, generator=gen)
        pool_1 = solve(first, pool_0, grid, "euler").x  # the model's own coupling
    second = ToyField()
    second.load_state_dict(first.state_dict())  # reflow fine-tunes the first model
    picks = [torch.randint(0, 4096, (256,), generator=gen) for _ in range(400)]
    _train(second, lambda s: pool_0[picks[s]], lambda s: pool_1[picks[s]], 400, seed=2)
    with torch.no_grad():
        after = trajectory_straightness(second, probe, grid).mean
    print(f"toy straightness before reflow {float(before):.4f}, after {float(after):.4f}")
    assert float(before) > 0.05
    assert float(after) < 0.5 * float(before)
