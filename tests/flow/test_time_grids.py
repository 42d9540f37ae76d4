"""Time grids: uniform, sway (F5), EPSS tables."""
# k: grid points

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import EPSS_TABLES, epss_grid, sway, time_grid, uniform_grid


def test_uniform_grid_values():
    torch.testing.assert_close(uniform_grid(4), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert uniform_grid(1, dtype=torch.float64).dtype == torch.float64


def test_sway_formula_at_a_hand_point():
    # t = 1/2, s = -1: 1/2 - (cos(pi/4) - 1 + 1/2) = 1 - sqrt(2)/2
    out = sway(torch.tensor([0.5], dtype=torch.float64), -1.0)
    assert out.item() == pytest.approx(1 - math.sqrt(2) / 2, abs=1e-15)
    out = sway(torch.tensor([0.5], dtype=torch.float64), 0.5)
    assert out.item() == pytest.approx(0.5 + 0.5 * (math.sqrt(2) / 2 - 0.5), abs=1e-15)


@pytest.mark.parametrize("s", torch.linspace(-1, 1, 21).tolist())
def test_sway_keeps_endpoints_and_is_monotone(s):
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    out = sway(t, s)
    assert out[0].item() == 0.0
    assert out[-1].item() == pytest.approx(1.0, abs=1e-15)
    assert bool((out[1:] > out[:-1]).all())  # strictly increasing on the dense grid


def test_sway_zero_is_identity_and_negative_packs_early_steps():
    t = uniform_grid(32)
    assert torch.equal(sway(t, 0.0), t)
    assert bool((sway(t, -1.0)[1:-1] < t[1:-1]).all())
    assert bool((sway(t, 1.0)[1:-1] > t[1:-1]).all())


@pytest.mark.parametrize("s", [-1.5, 1.5])
def test_sway_out_of_range_is_user_error(s):
    with pytest.raises(FlowvoxError, match="sway"):
        sway(uniform_grid(4), s)


def test_epss_nfe16_matches_reference():
    expected = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32]) / 32
    torch.testing.assert_close(epss_grid(16), expected.float(), rtol=0, atol=0)


def test_epss_published_nfes():
    assert sorted(EPSS_TABLES) == [5, 6, 7, 10, 12, 16]


@pytest.mark.parametrize("nfe", sorted(EPSS_TABLES))
def test_epss_grids_are_valid(nfe):
    grid = time_grid(nfe, "epss")
    assert grid.shape == (nfe + 1,)
    assert grid[0].item() == 0.0 and grid[-1].item() == 1.0
    assert bool((grid[1:] > grid[:-1]).all())


@pytest.mark.parametrize("nfe", [4, 8, 32])
def test_epss_unsupported_nfe_lists_supported(nfe):
    with pytest.raises(FlowvoxError, match=r"supported: \[5, 6, 7, 10, 12, 16\]"):
        time_grid(nfe, "epss")


@pytest.mark.parametrize("kind", ["uniform", "sway"])
@pytest.mark.parametrize("nfe", [1, 7, 32])
def test_front_door_shapes(kind, nfe):
    grid = time_grid(nfe, kind)
    assert grid.shape == (nfe + 1,)
    assert grid[0].item() == 0.0 and grid[-1].item() == pytest.approx(1.0)
    assert bool((grid[1:] > grid[:-1]).all())


def test_front_door_dispatch():
    assert torch.equal(time_grid(8, "sway", sway_coef=0.3), sway(uniform_grid(8), 0.3))
    assert torch.equal(time_grid(8), uniform_grid(8))
    with pytest.raises(FlowvoxError, match="kind"):
        time_grid(8, "cosine")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(FlowvoxError, match="nfe"):
            time_grid(bad)
