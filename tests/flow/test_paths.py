"""Paths against closed-form x_t and u_t, over path x sigma x shape (torchcfm style)."""
# b: batch, n: frames, d: channels

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import OTCFMPath, RectifiedPath, sample_time

PATHS = [OTCFMPath(), OTCFMPath(sigma_min=0.0), OTCFMPath(sigma_min=0.1), RectifiedPath()]
SHAPES = [(5,), (5, 3), (5, 4, 3)]


def _draw(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_0 = torch.randn(shape, generator=g, dtype=torch.float64)
    x_1 = torch.randn(shape, generator=g, dtype=torch.float64)
    t = torch.rand(shape[0], generator=g, dtype=torch.float64)
    return x_0, x_1, t


@pytest.mark.parametrize("path", PATHS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sample_matches_closed_form_per_sample(path, shape):
    x_0, x_1, t = _draw(shape)
    out = path.sample(x_0, x_1, t)
    sigma = path.sigma_min
    for i in range(shape[0]):  # scalar t_i per sample, written out by hand
        ti = float(t[i])
        expected_x = (1 - (1 - sigma) * ti) * x_0[i] + ti * x_1[i]
        expected_u = x_1[i] - (1 - sigma) * x_0[i]
        torch.testing.assert_close(out.x_t[i], expected_x, rtol=0, atol=1e-12)
        torch.testing.assert_close(out.u_t[i], expected_u, rtol=0, atol=1e-12)
    assert out.t is t


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_target_is_time_derivative_of_path(path):
    x_0, x_1, t = _draw((4, 3, 2), seed=1)
    t = t.clamp(0.01, 0.99)
    h = 1e-6
    ahead = path.sample(x_0, x_1, t + h).x_t
    behind = path.sample(x_0, x_1, t - h).x_t
    torch.testing.assert_close(
        (ahead - behind) / (2 * h), path.sample(x_0, x_1, t).u_t, rtol=0, atol=1e-7
    )


@pytest.mark.parametrize("sigma", [0.0, 1e-4, 0.3])
def test_endpoints(sigma):
    x_0, x_1, _ = _draw((3, 2), seed=2)
    path = OTCFMPath(sigma_min=sigma)
    zeros, ones = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    torch.testing.assert_close(path.sample(x_0, x_1, zeros).x_t, x_0, rtol=0, atol=0)
    torch.testing.assert_close(
        path.sample(x_0, x_1, ones).x_t, x_1 + sigma * x_0, rtol=0, atol=1e-15
    )


def test_rectified_is_otcfm_with_zero_sigma():
    x_0, x_1, t = _draw((4, 6), seed=3)
    a, b = RectifiedPath().sample(x_0, x_1, t), OTCFMPath(0.0).sample(x_0, x_1, t)
    assert torch.equal(a.x_t, b.x_t) and torch.equal(a.u_t, b.u_t)
    assert isinstance(RectifiedPath(), OTCFMPath)
    with pytest.raises(TypeError):
        RectifiedPath(sigma_min=0.1)  # fixed at 0, not a parameter


@pytest.mark.parametrize("sigma", [-0.1, 1.0, 2.0])
def test_bad_sigma_is_user_error(sigma):
    with pytest.raises(FlowvoxError, match="sigma_min"):
        OTCFMPath(sigma_min=sigma)


def test_bad_shapes_are_user_errors():
    x = torch.zeros(4, 3)
    with pytest.raises(FlowvoxError, match="same shape"):
        RectifiedPath().sample(x, torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(FlowvoxError, match="one time per sample"):
        RectifiedPath().sample(x, x, torch.zeros(4, 1))
    with pytest.raises(FlowvoxError, match="one time per sample"):
        RectifiedPath().sample(x, x, torch.zeros(()))


def test_sample_time_is_reproducible_uniform_and_batched():
    t = sample_time(4000, torch.Generator().manual_seed(7))
    assert t.shape == (4000,) and t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) < 1.0
    assert abs(float(t.mean()) - 0.5) < 0.02  # U[0,1): mean 1/2, SE 0.0046
    again = sample_time(4000, torch.Generator().manual_seed(7))
    other = sample_time(4000, torch.Generator().manual_seed(8))
    assert torch.equal(t, again) and not torch.equal(t, other)
    with pytest.raises(FlowvoxError):
        sample_time(0, torch.Generator())
