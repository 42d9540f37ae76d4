"""Trainer options (``TrainConfig``) and the run file that names a task (``RunConfig``).

A run file is YAML with three reserved top-level keys and the task's own sections::

    task: infill_tts            # a name from flowvox.train.registry.TASKS, or "module:Class"
    out_dir: runs/f5-tiny       # default: runs/<file name without .yaml>
    train: {max_steps: 20000, lr: 7.5e-5, ...}   # TrainConfig below, shared by every task
    model: {...}                # every other key is a field of the task's config_class
    data: {...}

``--set train.lr=1e-4`` and ``--set model.dim=256`` override single values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flowvox.errors import FlowvoxError
from flowvox.train.registry import resolve_task
from flowvox.utils.config import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    read_yaml,
)

RESERVED_KEYS = ("task", "out_dir", "train")


@dataclass
class TrainConfig:
    """Options of the shared trainer (one process, DDP or FSDP, via HF Accelerate).

    Learning rate at optimiser update u (0-based), base lr ``lr`` (or the group's own):
    warm-up lr·min(1, (u+1)/warmup_steps), then over the remaining updates up to
    ``max_steps`` with progress p ∈ [0, 1]: linear lr·(1 − (1 − r)·p), cosine
    lr·(r + (1 − r)·(1 + cos πp)/2), constant lr; r = ``min_lr_ratio``.
    EMA after each update: ema ← decay·ema + (1 − decay)·weights (a copy before
    ``ema_start_step``).
    """

    max_steps: int = 1000  # optimiser steps; also the length of the lr schedule
    # stop earlier, after this many minutes of training in this run (checkpoint + export;
    # --resume continues); 0: no limit. For fixed-length jobs: a GPU lease, equal-time studies
    time_limit_minutes: float = 0.0
    seed: int = 0
    # optimiser: AdamW; weight decay only on tensors with 2+ dims (not biases or norms)
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # 0: no clipping (the norm is still logged)
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_accum_steps: int = 1  # micro-batches per optimiser step (single-group tasks)
    ema_decay: float = 0.999  # 0: EMA = the current weights
    ema_start_step: int = 0
    # frame-budget batches, per process and micro-batch (flowvox.data.FrameBudgetBatchSampler)
    max_frames: int = 38400
    max_items: int | None = None
    num_buckets: int = 16
    num_workers: int = 0
    # checkpoints in OUT/checkpoints/step-XXXXXXX, the last keep_checkpoints kept
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    # logging: TensorBoard scalars every log_every steps, the task's media every media_every
    log_every: int = 50
    media_every: int = 0  # 0: never
    tensorboard: bool = True
    progress_bar: bool = True
    # hardware
    device: Literal["auto", "cpu"] = "auto"  # auto: the GPU Accelerate picks, else CPU
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"  # autocast; fp16 on GPU only
    fsdp: bool = False  # FSDP2 sharding via Accelerate (one trainable module, one group)

    def check(self) -> None:
        """Raise ``FlowvoxError`` naming the first out-of-range option."""
        positive = ("max_steps", "grad_accum_steps", "max_frames", "num_buckets")
        positive += ("checkpoint_every", "keep_checkpoints", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise FlowvoxError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        nonnegative = ("lr", "eps", "weight_decay", "max_grad_norm", "warmup_steps")
        for name in nonnegative + ("time_limit_minutes",):
            if getattr(self, name) < 0:
                raise FlowvoxError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("ema_decay", "min_lr_ratio"):
            if not 0 <= getattr(self, name) <= 1:
                raise FlowvoxError(f"train.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_items is not None and self.max_items < 1:
            raise FlowvoxError(f"train.max_items must be at least 1 or null, got {self.max_items}")
        if min(self.num_workers, self.media_every, self.ema_start_step, self.seed) < 0:
            raise FlowvoxError(
                "train.num_workers, media_every, ema_start_step and seed must be >= 0"
            )


@dataclass
class RunConfig:
    """A resolved run file: the task name, output folder, trainer and task options."""

    task: str
    out_dir: str
    train: TrainConfig = field(default_factory=TrainConfig)
    task_config: Any = None  # an instance of the task's config_class


def run_config_from_dict(data: dict[str, Any], default_out_dir: str | None = None) -> RunConfig:
    """Build a ``RunConfig``: reserved keys here, the rest into the task's ``config_class``."""

    name = data.get("task")
    if not isinstance(name, str) or not name:
        raise FlowvoxError(
            "config key 'task' is missing; name the task to train, e.g. task: infill_tts"
        )
    task_cls = resolve_task(name)
    task_fields = set(task_cls.config_class.__dataclass_fields__)
    clash = task_fields & set(RESERVED_KEYS)
    if clash:
        raise FlowvoxError(
            f"task {name!r}: {task_cls.__name__}.config_class has fields {sorted(clash)}, which "
            f"are reserved run-file keys ({', '.join(RESERVED_KEYS)}); rename those fields"
        )
    unknown = [k for k in data if k not in RESERVED_KEYS and k not in task_fields]
    if unknown:
        allowed = ", ".join([*RESERVED_KEYS, *task_cls.config_class.__dataclass_fields__])
        raise FlowvoxError(
            f"config key '{unknown[0]}' is unknown for task {name!r}; allowed top-level keys: "
            f"{allowed}"
        )
    out_dir = data.get("out_dir", default_out_dir)
    if not isinstance(out_dir, str) or not out_dir:
        raise FlowvoxError("config key 'out_dir' is missing; set out_dir: runs/NAME")
    train = config_from_dict(TrainConfig, data.get("train") or {}, "train")
    train.check()
    task_data = {k: v for k, v in data.items() if k not in RESERVED_KEYS}
    return RunConfig(
        task=name,
        out_dir=out_dir,
        train=train,
        task_config=config_from_dict(task_cls.config_class, task_data),
    )


def run_config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The flat mapping a run file holds (inverse of ``run_config_from_dict``)."""
    return {
        "task": config.task,
        "out_dir": config.out_dir,
        "train": config_to_dict(config.train),
        **config_to_dict(config.task_config),
    }


def load_run_config(
    path: str | os.PathLike, overrides: tuple[str, ...] | list[str] = ()
) -> RunConfig:
    """Read a run file, apply ``key.sub=value`` overrides, build and check everything."""
    path = Path(path)
    data = apply_overrides(read_yaml(path), overrides)
    try:
        return run_config_from_dict(data, default_out_dir=str(Path("runs") / path.stem))
    except FlowvoxError as err:
        raise FlowvoxError(f"{path}: {err}") from err
