"""The lr schedule against its formula, and the EMA against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.train import EMA, TrainConfig, lr_factor
from flowvox.train.setup import move_to_device


@pytest.mark.parametrize("schedule", ["linear", "cosine", "constant"])
def test_lr_factor(schedule):
    config = TrainConfig(max_steps=14, warmup_steps=4, schedule=schedule, min_lr_ratio=0.1)
    factors = [lr_factor(u, config) for u in range(16)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]  # (u + 1) / W
    p = [(u - 4) / 10 for u in range(4, 15)]  # progress over the 10 updates after warm-up
    expected = {
        "linear": [1 - 0.9 * x for x in p],
        "cosine": [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * x)) for x in p],
        "constant": [1.0] * len(p),
    }[schedule]
    assert factors[4:15] == pytest.approx(expected)
    assert factors[15] == pytest.approx(expected[-1])  # held after max_steps
    assert lr_factor(0, TrainConfig(warmup_steps=0, max_steps=10)) == 1.0


def test_ema_update_matches_formula():
    module = nn.Linear(3, 2)
    module.register_buffer("count", torch.tensor(0))
    ema = EMA(module, decay=0.75, start_step=1)
    w0 = module.weight.detach().clone()
    with torch.no_grad():
        module.weight.add_(1.0)
        module.count += 3
    ema.update(1)  # at or before start_step: a plain copy
    assert torch.equal(ema.shadow["weight"], w0 + 1) and int(ema.shadow["count"]) == 3
    with torch.no_grad():
        module.weight.mul_(2.0)
    ema.update(2)
    expected = 0.75 * (w0 + 1) + 0.25 * (2 * (w0 + 1))
    assert torch.allclose(ema.shadow["weight"], expected, atol=1e-6, rtol=0)
    state = ema.state_dict()
    assert set(state) == {"weight", "bias", "count"}
    fresh = nn.Linear(3, 2)
    fresh.register_buffer("count", torch.tensor(0))
    other = EMA(fresh, decay=0.5)
    other.load_state_dict(state)
    assert torch.equal(other.shadow["weight"], ema.shadow["weight"])


def test_move_to_device_walks_containers():
    from dataclasses import dataclass

    @dataclass
    class Item:
        x: torch.Tensor
        name: str

    batch = {"a": [torch.zeros(1), (torch.ones(2), "s")], "b": Item(torch.zeros(3), "n"), "c": 4}
    moved = move_to_device(batch, torch.device("meta"))
    assert moved["a"][0].is_meta and moved["a"][1][0].is_meta and moved["a"][1][1] == "s"
    assert moved["b"].x.is_meta and moved["b"].name == "n" and moved["c"] == 4


@pytest.mark.parametrize("decay", [-0.1, 1.5])
def test_ema_refuses_a_decay_outside_0_1(decay):
    with pytest.raises(FlowvoxError, match=f"EMA decay {decay} is outside"):
        EMA(nn.Linear(3, 2), decay)


def test_ema_state_of_another_model_is_a_clear_error():
    ema = EMA(nn.Linear(3, 2), decay=0.5)
    state = EMA(nn.Linear(3, 2, bias=False), decay=0.5).state_dict()
    with pytest.raises(FlowvoxError, match=r"keys \['bias'\] are in one and not the other"):
        ema.load_state_dict(state)
