"""`flowvox train --resume` with the newest checkpoint damaged (issue 17).

Each file of the newest checkpoint in turn is cut short: the run falls back to the previous
checkpoint with one warning naming both, and ends with the weights of a run never
interrupted, bit for bit. With every checkpoint damaged it stops in one line.
"""

from __future__ import annotations

import shutil

import pytest
from safetensors.torch import load_file

from flowvox.cli.main import main
from tests.reliability.conftest import write_toy_run

FILES = ["model.safetensors", "ema.safetensors", "optimizer.pt", "rng-0.pt", "state.json"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """A toy run trained to step 4 without a stop: the weights a resumed run must reach."""
    run_file = write_toy_run(tmp_path_factory.mktemp("straight"), steps=4)
    assert main(["train", str(run_file)]) == 0
    return load_file(run_file.parent / "run/checkpoints/step-0000004/model.safetensors")


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("name", FILES)
def test_resume_falls_back_to_the_previous_checkpoint(name, straight, tmp_path, capsys):
    run_file = write_toy_run(tmp_path, steps=4)
    assert main(["train", str(run_file), "--stop-at-step", "3"]) == 0
    steps = tmp_path / "run" / "checkpoints"
    truncate(steps / "step-0000003" / name)
    capsys.readouterr()
    assert main(["train", str(run_file), "--resume"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("flowvox: warning: checkpoint "), err
    assert "step-0000003" in err[0] and name in err[0] and "step-0000002" in err[0]
    resumed = load_file(steps / "step-0000004" / "model.safetensors")
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert (resumed[key] == straight[key]).all(), key


def test_resume_with_every_checkpoint_damaged_stops_in_one_line(tmp_path, capsys):
    run_file = write_toy_run(tmp_path, steps=2)
    assert main(["train", str(run_file)]) == 0
    for step in (tmp_path / "run" / "checkpoints").iterdir():
        truncate(step / "ema.safetensors", 0.1)
    before = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    capsys.readouterr()
    assert main(["train", str(run_file), "--resume", "--set", "train.max_steps=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowvox: error: no checkpoint in ") and err.count("\n") == 1
    assert "step-0000002" in err and "ema.safetensors" in err
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == before


def test_export_of_a_damaged_checkpoint_is_one_line(assets, tmp_path, capsys):
    shutil.copytree(assets["checkpoint"], tmp_path / "step")
    truncate(tmp_path / "step" / "ema.safetensors")
    assert main(["export", str(tmp_path / "step"), str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ema.safetensors" in err
    assert not (tmp_path / "model").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step"]
