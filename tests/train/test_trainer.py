"""The shared trainer on toy tasks (CPU, one process): resume, NaN skip, GAN, files, logs."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from flowvox.errors import FlowvoxError
from flowvox.train import (
    Trainer,
    export_checkpoint,
    list_checkpoints,
    lr_factor,
    run_config_from_dict,
    train_from_config,
)
from tests.train.toy_tasks import GAN, run_dict


def make_run(out_dir, task=None, train=None, **keys):
    return run_config_from_dict(run_dict(out_dir, task or run_dict(out_dir)["task"], train, **keys))


def checkpoint_files(folder):
    """(model tensors, EMA tensors, optimiser state, progress state) of a checkpoint folder;
    the state without its training time (a measurement, never equal between two runs)."""
    optimizer = torch.load(folder / "optimizer.pt", weights_only=True)
    state = json.loads((folder / "state.json").read_text())
    assert state.pop("train_seconds") > 0
    return (
        load_file(folder / "model.safetensors"),
        load_file(folder / "ema.safetensors"),
        (optimizer),
        state,
    )


def assert_same_nested(a, b):
    """Equal structure; tensors torch.equal, other leaves ==."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_nested(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_nested(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("num_workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_resume_equals_straight_run(tmp_path, num_workers):
    # dropout (global torch RNG) and per-sample input drops (task generator) both in play;
    # 20 steps cross two epochs of 10 batches, and the stop at 13 is mid-epoch
    train = {"checkpoint_every": 13, "num_workers": num_workers, "schedule": "cosine"}
    keys = {"dropout": 0.2, "cond_drop": 0.3}
    result = Trainer(make_run(tmp_path / "a", train=train, **keys)).fit()
    assert result.step == 20
    Trainer(make_run(tmp_path / "b", train=train, **keys)).fit(stop_at_step=13)
    resumed = Trainer(make_run(tmp_path / "b", train=train, **keys), resume=True)
    assert resumed.step == 13 and resumed.epoch == 1 and resumed.position == 3
    resumed.fit()
    straight = checkpoint_files(tmp_path / "a/checkpoints/step-0000020")
    again = checkpoint_files(tmp_path / "b/checkpoints/step-0000020")
    assert_same_nested(straight, again)
    # the run really moved: weights differ from the mid-run checkpoint
    middle = checkpoint_files(tmp_path / "a/checkpoints/step-0000013")
    assert not torch.equal(middle[0]["model.0.weight"], straight[0]["model.0.weight"])
    assert straight[3]["sampler"]["epoch"] == 1 and straight[3]["position"] == 10


def test_time_limit_stops_with_a_checkpoint_and_resume_adds_up_the_time(tmp_path, monkeypatch):
    import flowvox.train.trainer as trainer_module

    clock = iter(range(0, 10_000, 30))  # every perf_counter() call: 30 s later
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: float(next(clock)))
    train = {"max_steps": 20, "checkpoint_every": 50, "time_limit_minutes": 2.0}
    result = Trainer(make_run(tmp_path, train=train)).fit()
    assert 1 < result.step < 20  # stopped by the clock, not by max_steps
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == [
        f"step-{result.step:07d}"
    ]
    assert (result.export_dir / "model.safetensors").is_file()
    first = checkpoint_files(result.checkpoint_dir)[3]
    state = json.loads((result.checkpoint_dir / "state.json").read_text())
    assert state["train_seconds"] >= 120 and first["step"] == result.step
    resumed = Trainer(make_run(tmp_path, train=train), resume=True)
    assert resumed.train_seconds == state["train_seconds"]
    again = resumed.fit()
    assert result.step < again.step < 20
    assert again.train_seconds >= state["train_seconds"] + 120


def test_fit_twice_on_one_trainer_continues_the_batch_stream(tmp_path):
    Trainer(make_run(tmp_path / "a", train={"max_steps": 12})).fit()
    trainer = Trainer(make_run(tmp_path / "b", train={"max_steps": 12}))
    trainer.fit(stop_at_step=5)
    trainer.fit()
    for name in ("model.safetensors", "ema.safetensors"):
        a = load_file(tmp_path / "a/checkpoints/step-0000012" / name)
        b = load_file(tmp_path / "b/checkpoints/step-0000012" / name)
        assert_same_nested(a, b)


def test_nan_loss_is_skipped_and_reported(tmp_path, capsys):
    train = {"max_steps": 8, "checkpoint_every": 1, "keep_checkpoints": 10, "log_every": 8}
    result = Trainer(make_run(tmp_path, train=train, nan_at_step=5)).fit()
    root = tmp_path / "checkpoints"
    before, after, later = (checkpoint_files(root / f"step-000000{k}") for k in (5, 6, 7))
    assert_same_nested(before[:3], after[:3])  # weights, EMA, optimiser untouched by step 5
    assert not torch.equal(after[0]["model.0.weight"], later[0]["model.0.weight"])
    assert after[3]["updates"] == {"main": 5} and after[3]["skipped"] == {"main": 1}
    assert result.skipped == {"main": 1}
    assert result.last_logged["train/skipped/main"] == 1.0
    assert all(v == v for v in result.last_logged.values())  # no NaN in the logged means
    assert (
        "step 5: main loss or gradient norm is NaN/inf; update skipped" in capsys.readouterr().out
    )


def snapshot(trainer):
    """Copies of every module's state, by module name."""
    return {
        name: {k: v.clone() for k, v in module.state_dict().items()}
        for name, module in trainer.modules.items()
    }


def test_gan_task_updates_both_groups_in_turn(tmp_path):
    trainer = Trainer(make_run(tmp_path / "a", GAN, train={"max_steps": 3}))
    start = {
        n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in trainer.modules.items()
    }
    result = trainer.fit()
    assert result.skipped == {"discriminator": 0, "generator": 0}
    assert trainer.updates == {"discriminator": 3, "generator": 3}
    for name in ("generator", "discriminator"):
        now = trainer.modules[name].state_dict()
        assert not torch.equal(start[name]["0.weight"], now["0.weight"]), name
    assert {"loss/d", "loss/adv", "loss/recon", "loss/generator"} <= set(result.last_logged)
    exported = load_file(tmp_path / "a/model/model.safetensors")
    assert set(exported) == {"0.weight", "0.bias", "2.weight", "2.bias"}  # the generator's EMA

    # generator lr 0: its optimiser never moves it, while the discriminator's does
    frozen = Trainer(make_run(tmp_path / "b", GAN, train={"max_steps": 3}, generator_lr=0.0))
    start = {
        n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in frozen.modules.items()
    }
    frozen.fit()
    assert_same_nested(start["generator"], frozen.modules["generator"].state_dict())
    assert not torch.equal(
        start["discriminator"]["0.weight"], frozen.modules["discriminator"][0].weight
    )


def test_checkpoint_rotation_keeps_the_newest(tmp_path):
    train = {"max_steps": 9, "checkpoint_every": 2, "keep_checkpoints": 2}
    Trainer(make_run(tmp_path, train=train)).fit()
    names = [p.name for p in list_checkpoints(tmp_path / "checkpoints")]
    assert names == ["step-0000008", "step-0000009"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == names  # no temp dirs


def test_export_holds_ema_weights_and_config(tmp_path):
    run = make_run(tmp_path, train={"max_steps": 6})
    result = Trainer(run).fit()
    folder = result.export_dir
    assert folder == tmp_path / "model"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    exported = load_file(folder / "model.safetensors")
    model, ema, _, _ = checkpoint_files(tmp_path / "checkpoints/step-0000006")
    assert_same_nested(exported, ema)
    assert not torch.equal(exported["0.weight"], model["model.0.weight"])  # EMA ≠ weights
    with safe_open(folder / "model.safetensors", "pt") as f:
        metadata = f.metadata()
    assert metadata.pop("train_seconds").isdigit()  # rounded to whole seconds
    assert metadata == {"weights": "ema", "step": "6"}
    config = json.loads((folder / "config.json").read_text())
    assert run_config_from_dict(config) == run
    again = export_checkpoint(tmp_path / "checkpoints/step-0000006", tmp_path / "again")
    assert_same_nested(load_file(again / "model.safetensors"), exported)

    # with decay 0 the EMA is the weights themselves
    result = Trainer(make_run(tmp_path / "d0", train={"max_steps": 4, "ema_decay": 0.0})).fit()
    weights = load_file(tmp_path / "d0/checkpoints/step-0000004/model.safetensors")
    exported = load_file(result.export_dir / "model.safetensors")
    assert_same_nested(exported, {k.removeprefix("model."): v for k, v in weights.items()})


def output_dtypes_of_fit(run) -> tuple[set, dict]:
    """Dtypes the toy model's first linear gave during ``Trainer(run).fit()`` (Accelerate
    hands the whole model's output back in float32); exported tensors."""
    trainer = Trainer(run)
    seen = set()
    first = trainer.acc.unwrap_model(trainer.modules["model"])[0]
    first.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    result = trainer.fit()
    return seen, load_file(result.export_dir / "model.safetensors")


def test_bf16_mixed_precision_autocasts_on_cpu_and_keeps_fp32_weights(tmp_path):
    seen, exported = output_dtypes_of_fit(
        make_run(tmp_path / "bf16", train={"max_steps": 8, "mixed_precision": "bf16"})
    )
    assert seen == {torch.bfloat16}
    assert {t.dtype for t in exported.values()} == {torch.float32}
    assert all(torch.isfinite(t).all() for t in exported.values())
    # the next Accelerator in this process may use another precision
    seen, fp32 = output_dtypes_of_fit(make_run(tmp_path / "fp32", train={"max_steps": 8}))
    assert seen == {torch.float32}
    # same data, seed and steps: bf16 lands near the fp32 run, not on it
    for name, tensor in fp32.items():
        assert not torch.equal(tensor, exported[name])
        assert torch.allclose(tensor, exported[name], atol=0.05), name
    with pytest.raises(FlowvoxError, match="fp16 needs a CUDA GPU; on CPU use bf16"):
        Trainer(make_run(tmp_path / "fp16", train={"mixed_precision": "fp16"}))


def test_tensorboard_scalars_and_media_from_ema(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train = {"max_steps": 10, "media_every": 5, "checkpoint_every": 5, "tensorboard": True}
    result = Trainer(make_run(tmp_path / "a", train=train)).fit()
    events = EventAccumulator(str(tmp_path / "a/tensorboard"), size_guidance={"audio": 0}).Reload()
    tags = events.Tags()
    expected = {"loss/main", "loss/mse", "train/lr/main", "train/grad_norm/main"}
    expected |= {"train/frames_per_s", "train/skipped/main", "eval/ema_weight_sum"}
    assert expected <= set(tags["scalars"])
    assert tags["images"] == ["eval/weight"] and tags["audio"] == ["eval/tone"]
    lrs = {e.step: e.value for e in events.Scalars("train/lr/main")}
    config = make_run(tmp_path / "x", train=train).train
    assert lrs[5] == pytest.approx(1e-2 * lr_factor(5, config))
    ema_sum = {e.step: e.value for e in events.Scalars("eval/ema_weight_sum")}
    ema = load_file(tmp_path / "a/checkpoints/step-0000005/ema.safetensors")
    assert ema_sum[5] == pytest.approx(float(ema["0.weight"].sum()), abs=1e-5)
    assert result.frames_per_second > 0
    # media run inside an RNG fork: the same run without media ends with the same weights
    quiet = {**train, "media_every": 0, "tensorboard": False}
    Trainer(make_run(tmp_path / "b", train=quiet, dropout=0.2)).fit()
    Trainer(make_run(tmp_path / "c", train=train, dropout=0.2)).fit()
    b = load_file(tmp_path / "b/checkpoints/step-0000010/model.safetensors")
    c = load_file(tmp_path / "c/checkpoints/step-0000010/model.safetensors")
    assert_same_nested(b, c)


def test_train_from_config_file_with_overrides(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(
        "task: tests.train.toy_tasks:ToyRegressionTask\n"
        f"out_dir: {tmp_path / 'run'}\n"
        "train: {max_steps: 50, max_frames: 40, progress_bar: false, tensorboard: false,"
        " device: cpu}\n"
        "hidden: 8\n"
    )
    result = train_from_config(path, ["train.max_steps=3", "hidden=4"])
    assert result.step == 3
    config = json.loads((result.export_dir / "config.json").read_text())
    assert config["hidden"] == 4 and config["train"]["max_steps"] == 3
    assert load_file(result.export_dir / "model.safetensors")["0.weight"].shape == (4, 4)
    with pytest.raises(FlowvoxError, match="already holds checkpoints; pass --resume"):
        train_from_config(path, ["train.max_steps=3"])
    resumed = train_from_config(path, ["train.max_steps=5", "hidden=4"], resume=True)
    assert resumed.step == 5


def test_trainer_refuses_bad_set_ups(tmp_path):
    with pytest.raises(FlowvoxError, match="no checkpoint to resume"):
        Trainer(make_run(tmp_path / "a"), resume=True)
    with pytest.raises(FlowvoxError, match="grad_accum_steps > 1 needs a task with one"):
        Trainer(make_run(tmp_path / "b", GAN, train={"grad_accum_steps": 2}))
    with pytest.raises(FlowvoxError, match=r"train.fsdp needs 2\+ processes"):
        Trainer(make_run(tmp_path / "c", train={"fsdp": True}))
    Trainer(make_run(tmp_path / "d", train={"max_steps": 2})).fit()
    with pytest.raises(FlowvoxError, match="max_frames: saved 40 vs now 60"):
        Trainer(make_run(tmp_path / "d", train={"max_frames": 60}), resume=True)
