"""The shared trainer: drives any ``TrainTask`` on one process, DDP or FSDP (HF Accelerate).

One optimiser step = ``train.grad_accum_steps`` micro-batches from the frame-budget
sampler (each process draws its own, so the global batch is processes × micro-batches).
For each loss the task's step yields: check it is finite on every process, backpropagate,
and after the last micro-batch clip the group's gradients, set its lr from the schedule,
step its AdamW and, for the exported module's group, the EMA. A checkpoint folder is
written every ``checkpoint_every`` steps and at the end; ``resume=True`` continues from the
newest readable one exactly (weights, EMA, optimisers, batch position, every RNG). The run ends by
exporting ``OUT/model/`` (EMA weights + config.json).

Launch: ``python script.py`` (one process), ``torchrun --nproc_per_node N ...`` or
``accelerate launch ...`` (DDP; gloo on CPU, NCCL on GPU; ``train.fsdp``: FSDP2, setup.py).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from flowvox.data.sampler import FrameBudgetBatchSampler
from flowvox.errors import FlowvoxError
from flowvox.train import checkpoint as ckpt
from flowvox.train.config import RunConfig, load_run_config, run_config_to_dict
from flowvox.train.ema import EMA
from flowvox.train.logger import TrainLogger
from flowvox.train.registry import resolve_task
from flowvox.train.schedule import lr_factor
from flowvox.train.setup import (
    build_accelerator,
    build_adamw,
    changed_keys,
    check_groups,
    derive_seed,
    modules_to_wrap,
    move_to_device,
    seed_all,
    unwrap_optimizer,
)
from flowvox.train.task import StepContext, StepOutput, has_trainable_parameters


@dataclass
class TrainResult:
    """What a ``fit`` did."""

    out_dir: Path
    step: int  # optimiser steps done in total (resumed runs included)
    checkpoint_dir: Path | None  # the newest checkpoint folder
    export_dir: Path  # OUT/model: EMA weights + config.json
    skipped: dict[str, int]  # updates skipped per group for a NaN/inf loss or grad norm
    last_logged: dict[str, float]  # the last window of logged scalars
    frames_per_second: float  # all processes, this fit only
    train_seconds: float  # wall time in the training loop, resumed runs included


def train_from_config(
    path: str | os.PathLike,
    overrides: Sequence[str] = (),
    resume: bool = False,
    stop_at_step: int | None = None,
) -> TrainResult:
    """``flowvox train CONFIG.yaml [--set k=v ...] [--resume] [--stop-at-step N]``."""
    if stop_at_step is not None and stop_at_step < 1:
        raise FlowvoxError(f"--stop-at-step {stop_at_step}: must be 1 or more")
    run = load_run_config(path, list(overrides))
    return Trainer(run, resume=resume).fit(stop_at_step)


class Trainer:
    """Builds the task's modules, optimisers, EMA and data; ``fit`` trains."""

    def __init__(self, run: RunConfig, resume: bool = False):
        self.run, self.cfg = run, run.train
        cfg = self.cfg
        self.out_dir = Path(run.out_dir)
        self.task = resolve_task(run.task)(run.task_config)
        self.acc = build_accelerator(cfg)
        self.device = self.acc.device
        self.main = self.acc.is_main_process
        rank, world = self.acc.process_index, self.acc.num_processes

        seed_all(cfg.seed)  # the same on every process, so initial weights agree
        modules = self.task.build_modules()
        self.groups = check_groups(self.task, modules, cfg)
        export = self.task.export_module
        self._template = copy.deepcopy(modules[export]) if cfg.media_every else None
        self.trainable = [n for n in modules if has_trainable_parameters(modules[n])]
        wrap = modules_to_wrap(cfg, self.acc, modules, self.trainable)  # FSDP on CPU: none
        optimizers = [build_adamw(group, modules, cfg) for group in self.groups]
        prepared = self.acc.prepare(*(modules[n] for n in wrap), *optimizers)
        prepared = prepared if isinstance(prepared, tuple) else (prepared,)  # one comes bare
        trained = {n: modules[n] for n in self.trainable}  # sharded in place, or wrapped:
        trained |= dict(zip(wrap, prepared, strict=False))  # DDP, FSDP (optimizers follow)
        self.modules = {  # frozen modules only move to the device, in eval mode
            n: trained[n].train() if n in trained else m.to(self.device).eval()
            for n, m in modules.items()
        }
        opts = prepared[len(wrap) :]
        self.optimizers = {g.name: o for g, o in zip(self.groups, opts, strict=True)}
        self.params = {
            g.name: [p for n in g.modules for p in self.modules[n].parameters() if p.requires_grad]
            for g in self.groups
        }
        ema_source = self.acc.unwrap_model(self.modules[export])
        self.ema = EMA(ema_source, cfg.ema_decay, cfg.ema_start_step)
        self.ema_group = next(g.name for g in self.groups if export in g.modules)

        self.sampler, self.loader = self._build_data(rank, world)
        seed_all(derive_seed(cfg.seed, rank, 1))  # dropout etc. differ between processes
        self.generator = torch.Generator().manual_seed(derive_seed(cfg.seed, rank, 2))
        self.device_generator = self.generator
        if self.device.type != "cpu":
            self.device_generator = torch.Generator(self.device)
            self.device_generator.manual_seed(derive_seed(cfg.seed, rank, 3))

        self.step = self.epoch = self.position = 0
        self.train_seconds = 0.0  # wall time in the training loop, summed over resumed runs
        self.updates = {g.name: 0 for g in self.groups}
        self.skipped = {g.name: 0 for g in self.groups}
        self.checkpoint_root = self.out_dir / "checkpoints"
        existing = ckpt.list_checkpoints(self.checkpoint_root)
        if resume and not existing:
            raise FlowvoxError(f"{self.checkpoint_root}: no checkpoint to resume; drop --resume")
        if not resume and existing:
            raise FlowvoxError(
                f"{self.out_dir} already holds checkpoints; pass --resume to continue, or "
                "choose another out_dir"
            )
        if resume:
            self.load_checkpoint(existing)

    def _build_data(self, rank: int, world: int) -> tuple[FrameBudgetBatchSampler, DataLoader]:
        cfg = self.cfg
        data = self.task.train_data()
        sampler = FrameBudgetBatchSampler(
            data.lengths, cfg.max_frames, cfg.max_items, cfg.num_buckets,
            shuffle=True, seed=cfg.seed, rank=rank, world_size=world,
        )  # fmt: skip
        self.loader_generator = torch.Generator()  # worker seeds only; reseeded per epoch
        loader = DataLoader(
            data.dataset,
            batch_sampler=sampler,
            collate_fn=data.collate,
            num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=self.loader_generator,
        )
        return sampler, loader

    # ---------------------------------------------------------------- training loop
    def fit(self, stop_at_step: int | None = None) -> TrainResult:
        """Train to ``train.max_steps`` (or stop early at ``stop_at_step``, the lr schedule
        unchanged), then checkpoint and export."""
        cfg = self.cfg
        stop = cfg.max_steps if stop_at_step is None else min(stop_at_step, cfg.max_steps)
        log_dir = self.out_dir / "tensorboard" if self.main and cfg.tensorboard else None
        logger = TrainLogger(log_dir, self.step, stop, self.main and cfg.progress_bar)
        self._stream, self._frames_total, last_dir = self._batches(), 0, None
        self._clock = time.perf_counter()  # train_seconds counts the loop, not set-up
        start = time.perf_counter()
        try:
            while self.step < stop:
                self._train_step(logger)
                self.step += 1
                self.train_seconds += time.perf_counter() - self._clock
                self._clock = time.perf_counter()
                last = self.step == stop or self._out_of_time(start)
                logger.bar.update(1)
                if self.step % cfg.log_every == 0 or last:
                    self._write_logs(logger)
                if cfg.media_every and self.step % cfg.media_every == 0:
                    self._log_media(logger)
                if self.step % cfg.checkpoint_every == 0 or last:
                    last_dir = self.save_checkpoint()
                if last:
                    break
            export_dir = self.export()
        finally:
            self._stream.close()  # ends the DataLoader iterator (and its worker processes)
            logger.close()
        existing = ckpt.list_checkpoints(self.checkpoint_root)
        return TrainResult(
            out_dir=self.out_dir,
            step=self.step,
            checkpoint_dir=last_dir or (existing[-1] if existing else None),
            export_dir=export_dir,
            skipped=dict(self.skipped),
            last_logged=dict(logger.last),
            frames_per_second=self._frames_total / max(time.perf_counter() - start, 1e-9),
            train_seconds=self.train_seconds,
        )

    def _out_of_time(self, start: float) -> bool:
        """``train.time_limit_minutes`` spent in this run's loop (one answer for all processes)."""
        limit = self.cfg.time_limit_minutes
        if not limit:
            return False
        over = torch.tensor([time.perf_counter() - start >= 60.0 * limit], device=self.device)
        if self.acc.num_processes > 1:
            over = self.acc.reduce(over.int(), reduction="sum") > 0  # any process: all stop
        return bool(over.item())

    def _batches(self) -> Iterator[Any]:
        """Batches on the device from (``epoch``, ``position``) on, across epochs;
        ``position`` counts the batches of this epoch handed out."""
        while True:
            self.sampler.set_epoch(self.epoch)
            self.sampler.load_state_dict(self.sampler.state_dict(consumed=self.position))
            self.loader_generator.manual_seed(derive_seed(self.cfg.seed, self.epoch, 4))
            for batch in self.loader:
                self.position += 1
                yield move_to_device(batch, self.device)
            self.epoch, self.position = self.epoch + 1, 0

    def _train_step(self, logger: TrainLogger) -> None:
        """One optimiser step per group over ``grad_accum_steps`` micro-batches."""
        accum = self.cfg.grad_accum_steps
        finite = {name: True for name in self.optimizers}
        for micro in range(accum):
            last = micro == accum - 1
            batch = next(self._stream)
            ctx = StepContext(self.step, micro, self.device, self.generator, self.device_generator)
            frames, seen = 0, set()
            with self._no_sync(not last):
                for out in self._outputs(batch, ctx):
                    group = out.group
                    if group not in self.optimizers or group in seen:
                        raise FlowvoxError(
                            f"task {self.run.task!r} yielded group {group!r} (twice, or not one "
                            f"of {list(self.optimizers)}); yield each group at most once a step"
                        )
                    seen.add(group)
                    if micro == 0:  # no gradient left over from an earlier loss or step
                        for optimizer in self.optimizers.values():
                            optimizer.zero_grad(set_to_none=True)
                    ok = self._finite_everywhere(out.loss)
                    finite[group] = finite[group] and ok
                    frames = max(frames, int(out.frames))
                    if ok:
                        self.acc.backward(out.loss / accum)
                        logger.add(f"loss/{group}", out.loss.detach().float().item())
                        for name, value in out.terms.items():
                            logger.add(f"loss/{name}", float(value))
                    if last:
                        self._update(group, finite[group], logger)
            logger.add_frames(frames)

    def _outputs(self, batch: Any, ctx: StepContext) -> Iterator[StepOutput]:
        """The task's losses in order, each computed under autocast (mixed precision)."""
        with self.acc.autocast():
            result = self.task.training_step(self.modules, batch, ctx)
        if isinstance(result, StepOutput):
            yield result
            return
        while True:
            with self.acc.autocast():
                out = next(result, None)
            if out is None:
                return
            yield out

    def _update(self, group: str, ok: bool, logger: TrainLogger) -> None:
        """Clip, schedule and step ``group``, or skip it when anything was not finite."""
        optimizer = self.optimizers[group]
        if ok:
            max_norm = self.cfg.max_grad_norm or math.inf
            norm = float(self.acc.clip_grad_norm_(self.params[group], max_norm))
            ok = math.isfinite(norm) or self.cfg.mixed_precision == "fp16"  # the scaler skips
        if ok:
            logger.add(f"train/grad_norm/{group}", norm)
            factor = lr_factor(self.updates[group], self.cfg)
            for param_group in optimizer.param_groups:
                param_group["lr"] = param_group["initial_lr"] * factor
            optimizer.step()
            if not self.acc.optimizer_step_was_skipped:
                self.updates[group] += 1
                if group == self.ema_group:
                    self.ema.update(self.updates[group])
        else:
            self.skipped[group] += 1
            if self.main:
                logger.note(
                    f"step {self.step}: {group} loss or gradient norm is NaN/inf; update "
                    f"skipped ({self.skipped[group]} so far)"
                )
        optimizer.zero_grad(set_to_none=True)

    def _finite_everywhere(self, loss: torch.Tensor) -> bool:
        flag = torch.isfinite(loss.detach()).all().float().reshape(1)
        if self.acc.num_processes > 1:
            flag = self.acc.reduce(flag, reduction="sum") / self.acc.num_processes
        return bool(flag.item() == 1.0)

    def _no_sync(self, skip_sync: bool) -> contextlib.AbstractContextManager:
        stack = contextlib.ExitStack()
        if skip_sync:
            for name in self.trainable:
                stack.enter_context(self.acc.no_sync(self.modules[name]))
        return stack

    # ---------------------------------------------------------------- logs and media
    def _write_logs(self, logger: TrainLogger) -> None:
        frames = torch.tensor([float(logger.window_frames())], device=self.device)
        if self.acc.num_processes > 1:
            frames = self.acc.reduce(frames, reduction="sum")
        self._frames_total += int(frames.item())
        extra = {}
        for group in self.optimizers:
            extra[f"train/lr/{group}"] = self.current_lr(group)
            extra[f"train/skipped/{group}"] = float(self.skipped[group])
        extra["train/hours"] = self.train_seconds / 3600.0
        logger.flush_window(self.step, int(frames.item()), extra)

    def current_lr(self, group: str) -> float:
        """The lr the next update of ``group`` uses."""
        initial = self.optimizers[group].param_groups[0]["initial_lr"]
        return initial * lr_factor(self.updates[group], self.cfg)

    def _log_media(self, logger: TrainLogger) -> None:
        state = self.ema.state_dict()  # every process: gathers shards under FSDP
        sink = logger.media_sink(self.step)
        if not self.main or sink is None:
            return
        ema_module = self._template.to(self.device).eval()
        ema_module.load_state_dict(state)
        modules = {n: self.acc.unwrap_model(m) for n, m in self.modules.items()}
        modules[self.task.export_module] = ema_module
        saved = ckpt.capture_rng({"task": self.generator, "device": self.device_generator})
        try:
            with torch.no_grad():
                self.task.log_media(modules, self.step, sink)
        finally:  # media never changes the training's random streams
            ckpt.restore_rng(saved, {"task": self.generator, "device": self.device_generator})

    # ---------------------------------------------------------------- checkpoints
    def _state_container(self) -> nn.Module:
        return nn.ModuleDict({n: self.acc.unwrap_model(self.modules[n]) for n in self.trainable})

    def save_checkpoint(self) -> Path:
        """Write ``OUT/checkpoints/step-XXXXXXX`` atomically and keep the newest K."""
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        name = ckpt.checkpoint_name(self.step)
        tmp = self.checkpoint_root / f".tmp-{name}"
        if self.main:
            ckpt.temporary_dir(self.checkpoint_root, name)
        self.acc.wait_for_everyone()
        rng = ckpt.capture_rng({"task": self.generator, "device": self.device_generator})
        ckpt.save_torch(tmp / f"rng-{self.acc.process_index}.pt", rng)
        container, options = self._state_container(), StateDictOptions(True, True)
        model_state = get_model_state_dict(container, options=options)  # collective (FSDP)
        optim_state = {
            g: get_optimizer_state_dict(container, unwrap_optimizer(o), options=options)
            for g, o in self.optimizers.items()
        }
        ema_state = self.ema.state_dict()
        if self.main:
            ckpt.save_tensors(tmp / "model.safetensors", model_state)
            ckpt.save_tensors(tmp / "ema.safetensors", ema_state)
            ckpt.save_torch(tmp / "optimizer.pt", optim_state)
            ckpt.save_json(tmp / "state.json", self._progress_state())
            ckpt.save_json(tmp / "config.json", run_config_to_dict(self.run))
            self.task.checkpoint_files(tmp)
        self.acc.wait_for_everyone()
        target = self.checkpoint_root / name
        if self.main:
            ckpt.publish_dir(tmp, target)
            ckpt.prune_checkpoints(self.checkpoint_root, self.cfg.keep_checkpoints)
        self.acc.wait_for_everyone()
        return target

    def _progress_state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "updates": self.updates,
            "skipped": self.skipped,
            "train_seconds": round(self.train_seconds, 3),
            "world_size": self.acc.num_processes,
            "sampler": self.sampler.state_dict(consumed=self.position),
        }

    def load_checkpoint(self, folders: list[Path]) -> None:
        """Continue from the newest readable of ``folders`` (oldest first; written by
        ``save_checkpoint`` with the same set-up): see ``ckpt.read_newest_checkpoint``."""
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        saved = ckpt.read_newest_checkpoint(folders, self.acc.process_index, warn=self.main)
        folder, state = saved.folder, saved.state
        if state["world_size"] != self.acc.num_processes:
            raise FlowvoxError(
                f"{folder} was written by {state['world_size']} process(es), this run has "
                f"{self.acc.num_processes}; resume with the same number of processes"
            )
        if set(state["updates"]) != set(self.updates):
            raise FlowvoxError(f"{folder}: optimiser groups {list(state['updates'])} differ")
        changed = changed_keys(saved.config, run_config_to_dict(self.run))
        if changed and self.main:
            print(f"resuming {folder.name} with changed settings: {', '.join(changed)}")
        container, options = self._state_container(), StateDictOptions(full_state_dict=True)
        set_model_state_dict(container, saved.model, options=options)
        for group, optimizer in self.optimizers.items():
            set_optimizer_state_dict(
                container, unwrap_optimizer(optimizer), saved.optimizer[group], options=options
            )
        self.ema.load_state_dict(saved.ema)
        self.sampler.load_state_dict(state["sampler"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.updates, self.skipped = dict(state["updates"]), dict(state["skipped"])
        self.train_seconds = float(state.get("train_seconds", 0.0))  # absent before 2026-11
        ckpt.restore_rng(saved.rng, {"task": self.generator, "device": self.device_generator})

    def export(self, out_dir: str | os.PathLike | None = None) -> Path:
        """``OUT/model`` (or ``out_dir``): the EMA weights of the exported module + config."""
        target = Path(out_dir) if out_dir is not None else self.out_dir / "model"
        state = self.ema.state_dict()  # every process: gathers shards under FSDP
        if self.main:
            ckpt.write_model_dir(
                target,
                self.task.export_state_dict(state),
                self.task.export_config(run_config_to_dict(self.run)),
                {"weights": "ema", "step": self.step, "train_seconds": round(self.train_seconds)},
                self.task.export_files,
            )
        self.acc.wait_for_everyone()
        return target
