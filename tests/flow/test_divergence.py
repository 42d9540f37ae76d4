"""Divergence estimators against the trace of the full Jacobian."""
# b: batch, n: frames, d: channels; k: probes

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import draw_probes, exact_divergence, expand_mask, hutchinson_divergence

F64 = torch.float64


def _field(x):
    """A nonlinear field that mixes frames and channels within a sample: (b, n, d)."""
    w = torch.linspace(-1, 1, x[0].numel(), dtype=x.dtype).reshape(x.shape[1:])
    return torch.tanh(x * w + x.roll(1, dims=1)) + x.sum(dim=(1, 2), keepdim=True) * 0.3


def _jacobian_diagonal(x):
    """Per-sample Jacobian diagonal via torch.autograd.functional.jacobian (independent)."""
    rows = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda z: _field(z[None])[0], xi)
        rows.append(jac.reshape(xi.numel(), xi.numel()).diagonal().reshape(xi.shape))
    return torch.stack(rows)  # (b, n, d)


def test_exact_divergence_matches_jacobian_trace_with_mask():
    x = torch.randn(3, 4, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    diag = _jacobian_diagonal(x)
    xg = x.clone().requires_grad_(True)
    v = _field(xg)
    full = exact_divergence(v, xg, expand_mask(None, x))
    torch.testing.assert_close(full, diag.flatten(1).sum(1), rtol=1e-12, atol=1e-12)
    masked = exact_divergence(v, xg, expand_mask(mask, x))
    expected = (diag * mask[..., None]).flatten(1).sum(1)
    torch.testing.assert_close(masked, expected, rtol=1e-12, atol=1e-12)


def test_hutchinson_is_unbiased_and_masked():
    x = torch.randn(2, 3, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    valid = expand_mask(mask, x)
    xg = x.clone().requires_grad_(True)
    v = _field(xg)
    expected = exact_divergence(v, xg, valid)
    unmasked = exact_divergence(v, xg, expand_mask(None, x))
    probes = draw_probes(
        x, valid, num_probes=400, probe="rademacher", generator=torch.Generator().manual_seed(2)
    )
    per_probe = torch.stack([hutchinson_divergence(v, xg, p[None]) for p in probes])  # (k, b)
    se = per_probe.std(dim=0) / probes.shape[0] ** 0.5
    mean = per_probe.mean(dim=0)
    print(f"\nhutchinson vs exact: error {(mean - expected).tolist()}, SE {se.tolist()}")
    assert bool(((mean - expected).abs() < 3 * se).all())
    assert (unmasked - expected)[1].abs() > 6 * se[1]  # a masking bug would be caught
    # one call with k probes is the mean of the k single-probe estimates
    torch.testing.assert_close(hutchinson_divergence(v, xg, probes), mean)


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_probes_shape_values_and_padding(probe):
    like = torch.zeros(2, 5, 3)
    valid = expand_mask(torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]), like)
    eps = draw_probes(
        like, valid, num_probes=3, probe=probe, generator=torch.Generator().manual_seed(0)
    )
    assert eps.shape == (3, 2, 5, 3)
    assert torch.equal(eps[:, 0, 3:], torch.zeros(3, 2, 3))
    if probe == "rademacher":
        assert set(eps[valid.expand(3, -1, -1, -1)].tolist()) <= {-1.0, 1.0}
    same = draw_probes(
        like, valid, num_probes=3, probe=probe, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(eps, same)


def test_probe_user_errors():
    like = torch.zeros(1, 2)
    valid = expand_mask(None, like)
    with pytest.raises(FlowvoxError, match="probe"):
        draw_probes(like, valid, num_probes=1, probe="sphere", generator=torch.Generator())
    with pytest.raises(FlowvoxError, match="num_probes"):
        draw_probes(like, valid, num_probes=0, probe="gaussian", generator=torch.Generator())
