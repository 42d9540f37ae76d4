"""Classifier-free guidance: formulas, off weights, one doubled batch."""
# b: batch, n: frames, d: channels

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import DiffusersGuidance, F5Guidance, guided_velocity

V_C = torch.tensor([[1.0, -2.0, 0.5]])
V_U = torch.tensor([[0.5, 1.0, 0.5]])


def test_f5_formula_by_hand():
    g = F5Guidance(2.0)
    assert g.formula == "v = v_c + w * (v_c - v_u)"
    # 1 + 2 (0.5) = 2;  -2 + 2 (-3) = -8;  0.5 + 0 = 0.5
    assert torch.equal(g.combine(V_C, V_U), torch.tensor([[2.0, -8.0, 0.5]]))


def test_diffusers_formula_by_hand():
    g = DiffusersGuidance(3.0)
    assert g.formula == "v = v_u + w * (v_c - v_u)"
    # 0.5 + 3 (0.5) = 2;  1 + 3 (-3) = -8;  0.5
    assert torch.equal(g.combine(V_C, V_U), torch.tensor([[2.0, -8.0, 0.5]]))


@pytest.mark.parametrize("w", [0.0, 0.5, 2.0, 7.0])
def test_f5_weight_is_diffusers_weight_minus_one(w):
    g = torch.Generator().manual_seed(0)
    v_c, v_u = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    torch.testing.assert_close(
        F5Guidance(w).combine(v_c, v_u), DiffusersGuidance(w + 1).combine(v_c, v_u)
    )


@pytest.mark.parametrize("guidance", [F5Guidance(0.0), DiffusersGuidance(1.0)], ids=repr)
def test_off_weight_returns_conditional_exactly(guidance):
    assert guidance.is_off
    g = torch.Generator().manual_seed(1)
    v_c = torch.randn(64, 7, generator=g) * 1e3
    v_u = torch.randn(64, 7, generator=g)
    assert torch.equal(guidance.combine(v_c, v_u), v_c)
    assert torch.equal(guidance.combine(v_c, torch.full_like(v_u, float("nan"))), v_c)


def test_is_off_only_at_off_weight():
    assert not F5Guidance(1e-6).is_off and not F5Guidance(1.0).is_off
    assert not DiffusersGuidance(0.0).is_off and not DiffusersGuidance(2.0).is_off
    assert F5Guidance().w == 2.0


@pytest.mark.parametrize("cls", [F5Guidance, DiffusersGuidance])
@pytest.mark.parametrize("w", [-0.1, float("nan")])
def test_bad_weight_is_user_error(cls, w):
    with pytest.raises(FlowvoxError, match="guidance weight"):
        cls(w)


class RecordingModel:
    """v = x * t + cond: records the batch it sees."""

    def __init__(self):
        self.batches = []

    def __call__(self, x, t, cond):
        self.batches.append((x.shape[0], t.clone(), cond))
        return x * t[:, None, None] + cond["emb"][:, None, :]


def _inputs(b=3, n=4, d=2):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(b, n, d, generator=g)
    t = torch.rand(b, generator=g)
    cond = {"emb": torch.randn(b, d, generator=g), "mask": None}
    uncond = {"emb": torch.zeros(b, d), "mask": None}
    return x, t, cond, uncond


@pytest.mark.parametrize("guidance", [F5Guidance(2.0), DiffusersGuidance(3.0)], ids=repr)
def test_doubled_batch_calls_model_once(guidance):
    x, t, cond, uncond = _inputs()
    model = RecordingModel()
    out = guided_velocity(model, x, t, cond, uncond, guidance)
    assert len(model.batches) == 1
    batch, t_seen, cond_seen = model.batches[0]
    assert batch == 6 and torch.equal(t_seen, torch.cat([t, t]))
    assert torch.equal(cond_seen["emb"], torch.cat([cond["emb"], uncond["emb"]]))
    assert cond_seen["mask"] is None
    v_c = x * t[:, None, None] + cond["emb"][:, None, :]  # computed by hand
    v_u = x * t[:, None, None]
    torch.testing.assert_close(out, guidance.combine(v_c, v_u))


@pytest.mark.parametrize("guidance", [F5Guidance(0.0), DiffusersGuidance(1.0)], ids=repr)
def test_off_guidance_runs_conditional_half_only(guidance):
    x, t, cond, uncond = _inputs()
    model = RecordingModel()
    out = guided_velocity(model, x, t, cond, uncond, guidance)
    assert [entry[0] for entry in model.batches] == [3]
    assert model.batches[0][2] is cond
    assert torch.equal(out, x * t[:, None, None] + cond["emb"][:, None, :])


def test_tensor_and_tuple_conditions():
    x, t, _, _ = _inputs(b=2)
    c, u = torch.ones(2, 2), torch.zeros(2, 2)
    seen = []

    def model(x, t, cond):
        seen.append(cond)
        return x + cond[0][:, None, :]

    guided_velocity(model, x, t, (c, None), (u, None), F5Guidance(1.0))
    assert torch.equal(seen[0][0], torch.cat([c, u])) and seen[0][1] is None
    with pytest.raises(FlowvoxError, match="same structure"):
        guided_velocity(model, x, t, (c, None), (u,), F5Guidance(1.0))
    with pytest.raises(FlowvoxError, match="same structure"):
        guided_velocity(model, x, t, {"a": c}, {"b": u}, F5Guidance(1.0))
