"""`flowvox train` and `flowvox export` run in-process on a toy task."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from flowvox.cli.main import main
from tests.models import test_infill_task as infill
from tests.models.task_helpers import task_run_dict

REPO = Path(__file__).resolve().parents[2]

RUN_FILE = """\
task: tests.train.toy_tasks:ToyRegressionTask
out_dir: {out}
train: {{max_steps: 4, checkpoint_every: 2, max_frames: 40, progress_bar: false,
        tensorboard: false, device: cpu}}
hidden: 8
"""


def write_run_file(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(RUN_FILE.format(out=tmp_path / "run"))
    return path


def test_train_then_resume_continues_from_the_checkpoint(tmp_path, capsys):
    run_file = write_run_file(tmp_path)
    assert main(["train", str(run_file), "--set", "train.max_steps=3", "hidden=4"]) == 0
    out = capsys.readouterr().out
    assert "trained to step 3" in out and str(tmp_path / "run" / "model") in out
    config = json.loads((tmp_path / "run/model/config.json").read_text())
    assert config["hidden"] == 4 and config["train"]["max_steps"] == 3
    assert (tmp_path / "run/checkpoints/step-0000003").is_dir()
    # without --resume an existing run is refused with one line
    assert main(["train", str(run_file), "--set", "hidden=4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --resume" in err
    # --resume continues to the new max_steps; --set takes several values, or repeats
    code = main(
        ["train", str(run_file), "--resume", "--set", "hidden=4", "--set", "train.max_steps=5"]
    )
    assert code == 0
    assert "trained to step 5" in capsys.readouterr().out
    state = json.loads((tmp_path / "run/checkpoints/step-0000005/state.json").read_text())
    assert state["step"] == 5


def test_stop_at_step_stops_early_with_the_full_schedule(tmp_path, capsys):
    run_file = write_run_file(tmp_path)
    assert main(["train", str(run_file), "--stop-at-step", "2"]) == 0
    assert "trained to step 2" in capsys.readouterr().out
    assert (tmp_path / "run/model/model.safetensors").is_file()
    config = json.loads((tmp_path / "run/model/config.json").read_text())
    assert config["train"]["max_steps"] == 4  # the schedule is still 4 steps long
    assert main(["train", str(run_file), "--resume"]) == 0
    assert "trained to step 4" in capsys.readouterr().out
    assert main(["train", str(run_file), "--resume", "--stop-at-step", "0"]) == 2
    assert "--stop-at-step 0" in capsys.readouterr().err


def test_train_errors_are_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert main(["train", str(write_run_file(tmp_path)), "--set", "train.max_steps=0"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith("flowvox: error: ") for line in lines)
    assert "missing.yaml" in lines[0] and "max_steps" in lines[1]
    assert not (tmp_path / "run").exists()


def test_export_writes_a_model_folder_from_a_checkpoint(tmp_path, capsys):
    run_file = write_run_file(tmp_path)
    assert main(["train", str(run_file), "--set", "train.max_steps=2"]) == 0
    checkpoint = tmp_path / "run/checkpoints/step-0000002"
    assert main(["export", str(checkpoint), str(tmp_path / "exported")]) == 0
    exported = load_file(tmp_path / "exported/model.safetensors")
    assert exported.keys() == load_file(tmp_path / "run/model/model.safetensors").keys()
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "bad")]) == 2
    assert "not a training checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_train_runs_under_torchrun_with_one_summary(tmp_path):
    run_file = write_run_file(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port),
        "-m", "flowvox", "train", str(run_file), "--set", "train.max_steps=2",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained to step 2") == 1  # rank 0 only
    state = json.loads((tmp_path / "run/checkpoints/step-0000002/state.json").read_text())
    assert state["step"] == 2


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The infill task tests' tiny prepared corpus."""
    return infill.CORPUS.prepare(tmp_path_factory.mktemp("infill_data"))


@pytest.mark.slow
def test_infill_train_resume_then_speak_with_the_exported_model(tmp_path, prepared, capsys):
    import soundfile as sf
    import yaml

    from tests.cli.test_synthesis import tiny_vocos_dir
    from tests.infer.helpers import speech_like

    run_file = tmp_path / "run.yaml"
    run = task_run_dict(infill.TASK, infill.MODEL, prepared, tmp_path / "run", **infill.TRAIN)
    run_file.write_text(yaml.safe_dump(run))
    assert main(["train", str(run_file), "--set", "train.max_steps=2"]) == 0
    assert main(["train", str(run_file), "--resume"]) == 0  # on to max_steps 4
    assert "trained to step 4" in capsys.readouterr().out
    sf.write(tmp_path / "ref.wav", speech_like(1.5), 24000)
    out = tmp_path / "said.wav"
    argv = [
        "speak", "a cat sat.", "-o", str(out), "--model", str(tmp_path / "run/model"),
        "--vocoder", str(tiny_vocos_dir(tmp_path / "vocos")), "--ref-audio",
        str(tmp_path / "ref.wav"), "--ref-text", "we sing, you hum", "--nfe", "2", "--seed", "0",
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    wav, sr = sf.read(out)
    assert sr == 24000 and len(wav) > 0 and np.isfinite(wav).all()
