"""log_likelihood with caller-given Hutchinson probes (per-sample probes for batch-free scores)."""
# k: probes, b: batch, n: frames, d: channels

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import draw_probes, log_likelihood
from tests.flow.test_likelihood import data, velocity

F64 = torch.float64


def test_given_probes_equal_drawn_ones_and_padding_is_zeroed():
    x_1 = data(2, 4, seed=3)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    common = dict(divergence="hutchinson", method="rk4", num_steps=4)
    drawn = log_likelihood(
        velocity, x_1, mask, num_probes=3, generator=torch.Generator().manual_seed(5), **common
    )
    valid = mask[..., None].expand_as(x_1)
    probes = draw_probes(
        x_1, valid, num_probes=3, probe="rademacher", generator=torch.Generator().manual_seed(5)
    )
    probes = torch.where(valid, probes, 7.0)  # garbage at padding: must be ignored
    given = log_likelihood(velocity, x_1, mask, probes=probes, **common)
    assert torch.allclose(given.log_prob, drawn.log_prob, rtol=1e-12, atol=1e-12)
    other = log_likelihood(velocity, x_1, mask, probes=-probes.flip(0).roll(1, dims=2), **common)
    assert not torch.allclose(other.log_prob, drawn.log_prob)


def test_probes_of_the_wrong_shape_are_an_error():
    x_1 = data(2, 4, seed=3)
    with pytest.raises(FlowvoxError, match="probes"):
        log_likelihood(
            velocity, x_1, divergence="hutchinson", probes=torch.ones(2, 4, 3, dtype=F64)
        )
