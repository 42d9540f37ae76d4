"""Run files: reserved keys, the task's own sections, errors naming the key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from flowvox.errors import FlowvoxError
from flowvox.train import (
    TrainConfig,
    TrainTask,
    load_run_config,
    run_config_from_dict,
    run_config_to_dict,
)
from tests.train.toy_tasks import REGRESSION, ToyConfig, ToyDataConfig


def write(tmp_path, text: str):
    path = tmp_path / "tiny.yaml"
    path.write_text(f"task: {REGRESSION}\n" + text)
    return path


def test_sections_go_to_trainer_and_task(tmp_path):
    path = write(tmp_path, "train: {lr: 3e-4, betas: [0.8, 0.99]}\ndata: {items: 10}\nhidden: 8\n")
    run = load_run_config(path, ["train.max_steps=7", "data.dim=2"])
    assert run.out_dir == "runs/tiny"  # default: runs/<file stem>
    assert run.train == TrainConfig(lr=3e-4, betas=(0.8, 0.99), max_steps=7)
    assert run.task_config == ToyConfig(data=ToyDataConfig(items=10, dim=2), hidden=8)
    flat = run_config_to_dict(run)
    assert (
        flat["hidden"] == 8 and flat["train"]["betas"] == [0.8, 0.99] and "task_config" not in flat
    )
    assert run_config_from_dict(flat) == run


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("hiden: 8\n", [], "config key 'hiden' is unknown for task"),
        ("", ["modle.dim=3"], "allowed top-level keys: task, out_dir, train, data, hidden"),
        ("train: {lrr: 1}\n", [], "config key 'train.lrr' is unknown (did you mean 'lr'?)"),
        ("", ["train.lr=abc"], "config key 'train.lr': expected float, got 'abc' (str)"),
        ("", ["train.max_steps=1.5"], "config key 'train.max_steps': expected int"),
        ("", ["train.schedule=step"], "'train.schedule': expected one of 'linear', 'cosine'"),
        ("", ["data.items=many"], "config key 'data.items': expected int"),
        ("", ["train.lr"], "--set 'train.lr': write --set key.subkey=VALUE"),
        ("hidden: 8\n", ["hidden.size=3"], "'hidden' is a value (8 (int)), not a section"),
        ("", ["hidden.size=3"], "config key 'hidden': expected int, got {'size': 3} (dict)"),
        ("", ["train.max_steps=0"], "train.max_steps must be at least 1, got 0"),
        ("", ["train.ema_decay=1.5"], "train.ema_decay must be in [0, 1]"),
        ("", ["task=nope"], "task 'nope' is unknown; use one of"),
        ("", ["task=flowvox.nothing:Task"], "cannot import flowvox.nothing"),
        ("", ["task=flowvox.errors:FlowvoxError"], "is not a TrainTask subclass"),
    ],
)
def test_mistakes_name_the_key(tmp_path, text, overrides, message):
    with pytest.raises(FlowvoxError) as err:
        load_run_config(write(tmp_path, text), overrides)
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "tiny.yaml")) or "--set" in str(err.value)


def test_missing_task_is_named(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("train: {lr: 1.0e-3}\n")
    with pytest.raises(FlowvoxError, match="config key 'task' is missing"):
        load_run_config(path)


@dataclass
class ClashConfig:
    train: int = 1  # a reserved run-file key
    hidden: int = 2


class ClashTask(TrainTask):
    config_class = ClashConfig


def test_task_config_using_a_reserved_key_is_a_clear_error():
    data = {"task": f"{__name__}:ClashTask", "out_dir": "runs/x"}
    with pytest.raises(FlowvoxError, match=r"has fields \['train'\], which are reserved"):
        run_config_from_dict(data)
