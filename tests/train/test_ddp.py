"""Two CPU processes (torchrun, gloo) make the same update as one process on the same
global batch: DDP averages the two ranks' gradients, which one process gets by
accumulating the same two micro-batches (the sampler deals batch k to rank k mod 2)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from flowvox.train import Trainer, run_config_from_dict
from tests.train.toy_tasks import run_dict

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def max_difference(a, b) -> float:
    """Largest |a − b| over nested dicts/lists of tensors (non-tensor leaves must be equal)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return max([max_difference(a[k], b[k]) for k in a], default=0.0)
    if isinstance(a, (list, tuple)):
        return max([max_difference(x, y) for x, y in zip(a, b, strict=True)], default=0.0)
    if isinstance(a, torch.Tensor):
        return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
    assert a == b
    return 0.0


@pytest.mark.slow
def test_two_process_ddp_equals_one_process_on_the_same_global_batch(tmp_path):
    # 6 steps; step 2's loss is NaN on the second global micro-batch only (rank 1 under DDP):
    # both set-ups must skip that update everywhere. The DDP run stops at 3 and resumes.
    train = {"max_steps": 6, "checkpoint_every": 3, "warmup_steps": 2}
    task = {"nan_at_step": 2, "nan_slot": 1}
    config = run_dict(tmp_path / "ddp", train=train, **task)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        str(REPO / "tests/train/ddp_run.py"), str(path), "--stop-at", "3",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    single = run_dict(tmp_path / "one", train={**train, "grad_accum_steps": 2}, accum=2, **task)
    Trainer(run_config_from_dict(single)).fit()

    ddp_dir, one_dir = (
        tmp_path / "ddp/checkpoints/step-0000006",
        tmp_path / "one/checkpoints/step-0000006",
    )
    assert sorted(p.name for p in ddp_dir.glob("rng-*.pt")) == ["rng-0.pt", "rng-1.pt"]
    for name in ("model.safetensors", "ema.safetensors"):
        difference = max_difference(load_file(ddp_dir / name), load_file(one_dir / name))
        print(f"{name}: 2-process DDP vs 1 process, max abs difference {difference:.3g}")
        assert difference <= 1e-6
    optim = [torch.load(d / "optimizer.pt", weights_only=True) for d in (ddp_dir, one_dir)]
    assert max_difference(*optim) <= 1e-6
    states = [json.loads((d / "state.json").read_text()) for d in (ddp_dir, one_dir)]
    assert states[0]["skipped"] == states[1]["skipped"] == {"main": 1}
    assert states[0]["updates"] == states[1]["updates"] == {"main": 5}
    # the run moved away from its start (a test comparing two untouched models proves nothing)
    start = load_file(tmp_path / "ddp/checkpoints/step-0000003/model.safetensors")
    assert max_difference(start, load_file(ddp_dir / "model.safetensors")) > 1e-3
