"""The ``step_embed`` switch of the aligned decoder (shortcut models): off changes nothing; on,
d = 0 (or none) is the instantaneous velocity and a fresh embedding adds nothing; sampling
feeds d = 1/nfe on a uniform Euler grid and refuses other solvers and sway grids."""
# b: batch, l: tokens, n: frames, f: mel bins

from __future__ import annotations

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.model import AlignedTTS
from tests.models.aligned_helpers import one_thread, random_model, tiny_config  # noqa: F401

STEP_KEYS = {f"decoder.step_embed.time_mlp.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")}
pytestmark = pytest.mark.usefixtures("one_thread")


def texts():
    """ids (3, l0), lengths (3,) and fixed durations (3, 2 l0 + 1): 2 frames per token."""
    ids = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 1, 0, 0], [2, 2, 3, 4, 0]])
    return ids, torch.tensor([5, 3, 4]), torch.full((3, 11), 2)


def randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def shortcut_of(teacher: AlignedTTS, guidance: bool = True) -> AlignedTTS:
    """``teacher``'s weights in a ``step_embed`` model, the new embeddings as initialised."""
    config = teacher.config.replace(step_embed=True, guidance_embed=guidance)
    student = AlignedTTS(config).to(torch.float64)
    new = {k: v for k, v in student.state_dict().items() if k not in teacher.state_dict()}
    student.load_state_dict({**teacher.state_dict(), **new})
    return student.eval()


def decoder_calls(model: AlignedTTS, run) -> list[dict]:
    """Each decoder call ``run()`` makes: its rows, t and d (the 10th argument, or None)."""
    calls = []

    def record(module, args):
        d = args[9] if len(args) > 9 else None
        calls.append({"rows": len(args[0]), "t": args[3].clone(), "d": d})

    hook = model.decoder.register_forward_pre_hook(record)
    try:
        run()
    finally:
        hook.remove()
    return calls


def test_switch_off_adds_no_weights_and_a_plain_decoder_refuses_d():
    assert AlignedTTSConfig().step_embed is False
    plain = random_model(tiny_config(), seed=1)
    assert not any("step_embed" in key for key in plain.state_dict())
    on = AlignedTTS(tiny_config(step_embed=True))
    assert set(on.state_dict()) - set(plain.state_dict()) == STEP_KEYS
    x, mask, t = randn(3, 22, 4, seed=3), torch.ones(3, 22, dtype=torch.bool), randn(3, seed=4)
    no = torch.zeros(3, dtype=torch.bool)
    with pytest.raises(FlowvoxError, match="no step size d"):
        plain.decoder(x, x, x, t, mask, no, no, None, None, torch.ones(3))


def test_d_zero_is_the_default_and_a_fresh_step_embedding_adds_nothing():
    teacher = random_model(tiny_config(guidance_embed=True), seed=2)  # trained guidance embed
    student = shortcut_of(teacher)
    x, cond, mu = randn(3, 22, 4, seed=1), randn(3, 22, 4, seed=2), randn(3, 22, 4, seed=3)
    t, mask = torch.rand(3, dtype=torch.float64), torch.ones(3, 22, dtype=torch.bool)
    no, w = torch.zeros(3, dtype=torch.bool), torch.tensor([0.0, 0.7, 2.0])
    guided = teacher.decoder(x, cond, mu, t, mask, no, no, None, w)
    for d in (None, 0.0, 0.5, 1.0):
        step = None if d is None else torch.full((3,), d)
        got = student.decoder(x, cond, mu, t, mask, no, no, None, w, step)
        assert torch.equal(got, guided), d  # StepEmb(d) = 0 exactly until trained
    with torch.no_grad():
        student.decoder.step_embed.time_mlp[2].weight.normal_(0, 0.2)
    v = {d: student.decoder(x, cond, mu, t, mask, no, no, None, w, torch.full((3,), d))
         for d in (0.0, 0.5, 1.0)}  # fmt: skip
    assert torch.equal(student.decoder(x, cond, mu, t, mask, no, no, None, w), v[0.0])
    assert not torch.allclose(v[0.5], v[1.0]) and not torch.allclose(v[0.0], v[0.5])


@pytest.mark.parametrize("guidance", [True, False])
def test_sampling_with_nfe_n_feeds_d_one_over_n_on_a_uniform_grid(guidance):
    student = shortcut_of(random_model(tiny_config(), seed=3), guidance)
    with torch.no_grad():  # a trained step embedding, so d changes the output
        student.decoder.step_embed.time_mlp[2].weight.normal_(0, 0.2)
    ids, lengths, durations = texts()
    noise = randn(3, 22, 4, seed=5)
    rows = 3 if guidance else 6  # without guidance_embed: CFG's doubled batch, d on both halves
    mels = {}
    for nfe, d, times in ((1, 1.0, [0.0]), (2, 0.5, [0.0, 0.5]), (4, 0.25, [0.0, 0.25, 0.5, 0.75])):

        def run(nfe=nfe):
            mels[nfe] = student.synthesize(
                ids, lengths, durations=durations, nfe=nfe, cfg=0.7, noise=noise
            ).mel

        calls = decoder_calls(student, run)
        assert [c["rows"] for c in calls] == [rows] * nfe
        assert [float(c["t"][0]) for c in calls] == times
        for call in calls:
            assert call["d"].shape == (rows,) and bool((call["d"] == d).all()), (nfe, call["d"])
    again = student.synthesize(ids, lengths, durations=durations, nfe=2, cfg=0.7, noise=noise,
                               sway=0.0)  # fmt: skip
    assert torch.equal(again.mel, mels[2])  # sway 0 is the uniform grid
    assert not torch.allclose(mels[1], mels[2])


def test_sampling_refuses_other_solvers_and_sway_grids_in_one_line():
    student = shortcut_of(random_model(tiny_config(), seed=4))
    ids, lengths, durations = texts()
    for options in ({"solver": "midpoint"}, {"solver": "dopri5"}, {"sway": -1.0}):
        with pytest.raises(FlowvoxError, match="shortcut model") as err:
            student.synthesize(ids, lengths, durations=durations, nfe=2, **options)
        assert "\n" not in str(err.value) and "euler" in str(err.value)
    plain = random_model(tiny_config(), seed=4)  # a plain model keeps every solver and grid
    plain.synthesize(ids, lengths, durations=durations, nfe=2, solver="midpoint", sway=-1.0)


def test_likelihood_velocity_of_a_shortcut_model_is_the_instantaneous_one():
    """``velocity_fn`` without a step (likelihood scoring, reflow) asks for d = 0."""
    student = shortcut_of(random_model(tiny_config(), seed=6))
    mu, mask = randn(3, 22, 4, seed=1), torch.ones(3, 22, dtype=torch.bool)
    calls = decoder_calls(
        student, lambda: student.velocity_fn(torch.zeros_like(mu), mu, mask, 0.5)(mu, mu[:, 0, 0])
    )
    assert len(calls) == 1 and bool((calls[0]["d"] == 0).all())
