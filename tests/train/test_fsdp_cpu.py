"""``train.fsdp`` on two CPU processes (torchrun, gloo): FSDP2 ``fully_shard`` applied by the
trainer (Accelerate 1.16 ignores its FSDP plugin on CPU and would use DDP).

Each rank must hold half the rows of every parameter (and of its EMA shadow; a buffer stays
whole), and the run must make the same updates as one unsharded process on the same global
batch: FSDP
reduce-scatters the mean of the two ranks' gradients, which one process gets by accumulating
the same two micro-batches (the sampler deals batch k to rank k mod 2), as in test_ddp.py.

Run as a script under torchrun (``python -m tests.train.test_fsdp_cpu RUN.yaml``) it is the
first leg of the test: build the sharded trainer, record each rank's shards, train 3 steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn

from flowvox.train import StepOutput, Trainer, load_run_config, run_config_from_dict
from flowvox.train.setup import leave_process_group, seed_all
from tests.train.test_ddp import free_port, max_difference
from tests.train.toy_tasks import ToyConfig, ToyRegressionTask, masked_mse, pad_items, run_dict

REPO = Path(__file__).resolve().parents[2]
TRAIN = {"max_steps": 6, "checkpoint_every": 3, "warmup_steps": 2}
TASK = "tests.train.test_fsdp_cpu:BufferedToyTask"


class BufferedToyTask(ToyRegressionTask):
    """The toy regression whose model also holds a float buffer (y = model(x) + offset), as
    real models do (RoPE frequencies): FSDP shards parameters only, so the EMA must handle
    sharded and whole tensors side by side."""

    def build_modules(self) -> dict[str, nn.Module]:
        model = super().build_modules()["model"]
        model.register_buffer("offset", torch.full((self.config.data.dim,), 0.1))
        return {"model": model}

    def training_step(self, modules, batch, ctx):
        x, offset = batch["x"], modules["model"].offset  # (b, n, d), (d,)
        loss = masked_mse(modules["model"](x) + offset, batch["y"], batch["mask"])
        return StepOutput(loss, terms={"mse": loss.detach()}, frames=int(batch["mask"].sum()))


def record_shards_and_train(path: str) -> None:
    """First leg, on every rank: ``shards-<rank>.json`` {name: [type, local shape, full
    shape]} for parameters and EMA shadows, then 3 steps."""
    trainer = Trainer(load_run_config(path, ["train.fsdp=true"]))
    model = trainer.modules["model"]
    tensors = {f"param.{n}": p for n, p in model.named_parameters()}
    tensors |= {f"ema.{n}": v for n, v in trainer.ema.shadow.items()}
    shards = {
        n: [type(t).__name__, list(getattr(t, "to_local", lambda t=t: t)().shape), list(t.shape)]
        for n, t in tensors.items()
    }
    out = Path(trainer.out_dir) / f"shards-{trainer.acc.process_index}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(shards))
    trainer.fit(stop_at_step=3)
    leave_process_group()


def torchrun(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [
        str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *args,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


def toy_loss(weights: dict[str, torch.Tensor]) -> float:
    """The toy task's masked MSE over all its items with ``weights``."""
    task = BufferedToyTask(ToyConfig())
    model = task.build_modules()["model"]
    model.load_state_dict(weights)
    batch = pad_items(list(task.train_data().dataset))
    with torch.no_grad():
        return float(masked_mse(model(batch["x"]) + model.offset, batch["y"], batch["mask"]))


@pytest.mark.slow
def test_two_process_fsdp_shards_and_equals_one_process(tmp_path):
    path = tmp_path / "fsdp.yaml"
    path.write_text(yaml.safe_dump(run_dict(tmp_path / "fsdp", TASK, train=TRAIN)))
    torchrun(["-m", "tests.train.test_fsdp_cpu", str(path)])  # steps 1-3, sharded
    resume = ["-m", "flowvox", "train", str(path), "--set", "train.fsdp=true", "--resume"]
    torchrun(resume)  # steps 4-6 from the step-3 checkpoint

    # every parameter and its EMA shadow is a DTensor holding half the rows on each rank
    for rank in (0, 1):
        shards = json.loads((tmp_path / f"fsdp/shards-{rank}.json").read_text())
        assert shards.pop("ema.offset") == ["Tensor", [4], [4]]  # a buffer: whole everywhere
        assert len(shards) == 8, shards  # 2 Linear layers × (weight, bias) × (param, EMA)
        for name, (kind, local, full) in shards.items():
            assert kind == "DTensor", name
            assert local == [full[0] // 2, *full[1:]], (name, local, full)

    single = run_dict(tmp_path / "one", TASK, train={**TRAIN, "grad_accum_steps": 2}, accum=2)
    Trainer(run_config_from_dict(single)).fit()
    sharded = tmp_path / "fsdp/checkpoints/step-0000006"
    one = tmp_path / "one/checkpoints/step-0000006"
    # fp32 both ways; only the summation order of the two micro-batch gradients may differ
    # (reduce-scatter vs accumulation): a few float32 roundings of O(1) weights over 6 steps
    for name in ("model.safetensors", "ema.safetensors"):
        difference = max_difference(load_file(sharded / name), load_file(one / name))
        print(f"{name}: 2-process FSDP vs 1 process, max abs difference {difference:.3g}")
        assert difference <= 1e-6
    optim = [torch.load(d / "optimizer.pt", weights_only=True) for d in (sharded, one)]
    assert max_difference(*optim) <= 1e-6
    exported = load_file(tmp_path / "fsdp/model/model.safetensors")
    assert max_difference(exported, load_file(tmp_path / "one/model/model.safetensors")) <= 1e-6
    state = json.loads((sharded / "state.json").read_text())
    assert state["step"] == 6 and state["world_size"] == 2 and state["updates"] == {"main": 6}

    seed_all(0)  # the trainer's seed: the weights every process starts from
    start = BufferedToyTask(ToyConfig()).build_modules()["model"].state_dict()
    saved = load_file(sharded / "model.safetensors")  # keys "model.<param>"
    trained = {k.removeprefix("model."): v for k, v in saved.items()}
    assert max_difference(start, trained) > 1e-3  # it moved: equal untouched models prove nothing
    before, after = toy_loss(start), toy_loss(trained)
    print(f"toy loss {before:.4f} -> {after:.4f}")
    assert after < before


if __name__ == "__main__":
    record_shards_and_train(sys.argv[1])
