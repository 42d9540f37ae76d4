"""Pieces the trainer is built from: Accelerator, optimisers, seeds, device moves.

No tensor shapes are handled here (batches only move between devices).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.train.config import TrainConfig
from flowvox.train.task import OptimizerGroup, TrainTask, has_trainable_parameters


def build_accelerator(cfg: TrainConfig):
    """An ``accelerate.Accelerator`` for ``cfg``: CPU or GPU, DDP from the launcher's
    environment, FSDP2 with ``cfg.fsdp`` (Accelerate's plugin on GPUs; on CPU the trainer
    shards itself, see ``shards_by_hand``); ``cfg.mixed_precision`` bf16 autocasts on either
    (on a CPU with bfloat16 dot products, e.g. AVX512-BF16 or AMX, matrix products run about
    2.5× faster), fp16 needs a GPU."""
    from accelerate import Accelerator
    from accelerate.utils import FullyShardedDataParallelPlugin

    cpu = cfg.device == "cpu" or not torch.cuda.is_available()
    plugin = FullyShardedDataParallelPlugin(fsdp_version=2) if cfg.fsdp and not cpu else None
    if cfg.mixed_precision == "fp16" and cpu:
        raise FlowvoxError("train.mixed_precision fp16 needs a CUDA GPU; on CPU use bf16 or no")
    _forget_other_precision(cfg.mixed_precision)
    accelerator = Accelerator(cpu=cpu, mixed_precision=cfg.mixed_precision, fsdp_plugin=plugin)
    if cfg.fsdp and accelerator.num_processes < 2:
        raise FlowvoxError(
            "train.fsdp needs 2+ processes (torchrun or accelerate launch); set train.fsdp=false "
            "for one process"
        )
    return accelerator


def shards_by_hand(cfg: TrainConfig, accelerator) -> bool:
    """Whether the trainer applies FSDP2 itself: ``train.fsdp`` on CPU. Accelerate 1.16 turns
    its FSDP plugin on only for GPU-type launches; with ``cpu=True`` (MULTI_CPU) it silently
    wraps the model in DDP instead, while torch's ``fully_shard`` works over gloo."""
    return cfg.fsdp and not accelerator.is_fsdp2


def shard_modules(modules: dict[str, nn.Module], names: list[str]) -> None:
    """FSDP2 ``fully_shard`` each of ``names`` in place (the whole module is one unit: its
    parameters become DTensors split by rows over the processes). Call before building the
    optimisers, which must hold the sharded parameters."""
    from torch.distributed.fsdp import fully_shard

    for name in names:
        fully_shard(modules[name])


def modules_to_wrap(cfg: TrainConfig, accelerator, modules: dict, trainable: list[str]):
    """The trainable modules ``accelerator.prepare`` must wrap (DDP, or FSDP on GPUs); none
    when this process shards them itself (``shards_by_hand``), which it does here."""
    if not shards_by_hand(cfg, accelerator):
        return trainable
    shard_modules(modules, trainable)
    return []


def _forget_other_precision(mixed_precision: str) -> None:
    """Let this process build an Accelerator with another mixed precision than the last one.

    Accelerate keeps one ``AcceleratorState`` per process and refuses a second Accelerator
    with a different ``mixed_precision`` (a notebook or test training a bf16 model, then an
    fp32 vocoder). Only that state is dropped; the process group (``PartialState``) stays.
    """
    from accelerate.state import AcceleratorState

    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision", mixed_precision) != mixed_precision:
        AcceleratorState._reset_state()


def check_groups(
    task: TrainTask, modules: dict[str, nn.Module], cfg: TrainConfig
) -> list[OptimizerGroup]:
    """The task's optimiser groups, checked against its modules and ``cfg``."""
    groups: list[OptimizerGroup] = task.optimizer_groups(modules)
    names = [g.name for g in groups]
    owned = [m for g in groups for m in g.modules]
    problems = []
    if not groups or len(set(names)) != len(names):
        problems.append(f"group names {names} must be unique and at least one")
    if len(set(owned)) != len(owned):
        problems.append(f"a module is in two groups ({owned})")
    bad = [m for m in owned if m not in modules or not has_trainable_parameters(modules[m])]
    if bad:
        problems.append(f"modules {bad} are missing or have no trainable parameters")
    if task.export_module not in owned:
        problems.append(f"export_module {task.export_module!r} is in no group")
    if problems:
        raise FlowvoxError(f"task {type(task).__name__}: " + "; ".join(problems))
    if len(groups) > 1 and cfg.grad_accum_steps > 1:
        raise FlowvoxError("train.grad_accum_steps > 1 needs a task with one optimiser group")
    if len(groups) > 1 and cfg.mixed_precision == "fp16":
        raise FlowvoxError("train.mixed_precision fp16 needs one optimiser group; use bf16")
    if cfg.fsdp and (len(groups) > 1 or len(owned) > 1):
        raise FlowvoxError("train.fsdp needs a task with one trainable module and one group")
    return groups


def build_adamw(
    group: OptimizerGroup, modules: dict[str, nn.Module], cfg: TrainConfig
) -> torch.optim.AdamW:
    """AdamW over ``group``'s modules; weight decay only on tensors with 2+ dims."""
    params = [p for n in group.modules for p in modules[n].parameters() if p.requires_grad]
    decay = cfg.weight_decay if group.weight_decay is None else group.weight_decay
    lr = cfg.lr if group.lr is None else group.lr
    param_groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    param_groups = [g for g in param_groups if g["params"]]
    for g in param_groups:
        g["initial_lr"] = lr
    return torch.optim.AdamW(param_groups, lr=lr, betas=group.betas or cfg.betas, eps=cfg.eps)


def unwrap_optimizer(optimizer):
    """The torch optimiser inside Accelerate's wrapper."""
    return getattr(optimizer, "optimizer", optimizer)


def move_to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with its tensors on ``device`` (tensors, ``.to()`` objects, dataclasses,
    dicts, lists and tuples; anything else as is)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if callable(getattr(batch, "to", None)):
        return batch.to(device)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        changes = {
            f.name: move_to_device(getattr(batch, f.name), device)
            for f in dataclasses.fields(batch)
            if f.init
        }
        return dataclasses.replace(batch, **changes)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def derive_seed(seed: int, *ids: int) -> int:
    """A 63-bit seed for (seed, ids...), independent across different ids."""
    return int(np.random.SeedSequence([seed, *ids]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) global RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(dict.fromkeys([*old, *new]))
        return [c for k in keys for c in changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


def leave_process_group() -> None:
    """Destroy this process's torch.distributed group, if any, before the process ends: a
    gloo group left alive at exit can abort it ("terminate called without an active
    exception", SIGABRT) after the work is done."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
