"""Checkpoint folders: atomic writes, rotation, RNG states, and exported model folders.

A training checkpoint ``OUT/checkpoints/step-XXXXXXX/`` holds::

    model.safetensors    trainable modules' weights, keys "<module>.<param>"
    ema.safetensors      EMA of the exported module, keys as its state_dict
    optimizer.pt         {group: optimiser state keyed by parameter name} (tensors, numbers)
    rng-<rank>.pt        python/numpy/torch/CUDA RNG and the task generators, per process
    state.json           step, epoch, batch position, updates and skips per group, sampler
    config.json          the resolved run config

``.pt`` files hold only tensors, numbers and strings and load with ``weights_only=True``.
The folder is written under a temporary name and renamed, so a crash never leaves a
half-written ``step-*``. An exported model folder holds ``model.safetensors`` (EMA
weights) and ``config.json``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from flowvox.errors import FlowvoxError
from flowvox.train.config import run_config_from_dict
from flowvox.train.registry import resolve_task
from flowvox.utils.config import load_config_json, save_config_json

LOG = logging.getLogger("flowvox.train")
STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """``step-*`` folders under ``root``, oldest first (temporary folders ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(root: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints; return the deleted folders."""
    doomed = list_checkpoints(root)[:-keep] if keep > 0 else []
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def temporary_dir(root: Path, name: str) -> Path:
    """An empty ``root/.tmp-<name>`` to fill before ``publish_dir``."""
    tmp = root / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def publish_dir(tmp: Path, target: Path) -> None:
    """Rename a finished temporary folder onto ``target`` (replacing an older one)."""
    if target.exists():
        old = target.with_name(f".old-{target.name}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old)
    else:
        os.replace(tmp, target)


def save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None
) -> None:
    """safetensors file of contiguous CPU copies (shared storage is written twice)."""
    plain = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    save_file(plain, str(path), metadata={k: str(v) for k, v in (metadata or {}).items()})


def save_torch(path: Path, data: Any) -> None:
    """A ``.pt`` file of tensors and plain values, serialised in memory first: a failed
    write is an ``OSError`` with its errno (torch's own writer reports a bare position)."""
    buffer = io.BytesIO()
    torch.save(data, buffer)
    path.write_bytes(buffer.getbuffer())


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file; a missing, cut-short or foreign file is a ``FlowvoxError``."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise FlowvoxError(f"{path}: not a readable safetensors file ({err})") from None


def save_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_json(path: Path) -> dict:
    """A JSON object; a missing, cut-short or foreign file is a ``FlowvoxError``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise FlowvoxError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict):
        raise FlowvoxError(f"{path}: not a JSON object")
    return data


def load_torch(path: Path) -> Any:
    """A ``.pt`` file of tensors and plain values (no arbitrary objects are unpickled); a
    missing, cut-short or foreign file is a ``FlowvoxError``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        reason = " ".join(str(err).split())[:200]
        raise FlowvoxError(f"{path}: not a readable tensor file ({reason})") from None


@dataclass
class CheckpointFiles:
    """Everything in a checkpoint folder that resuming applies, read before any is applied."""

    folder: Path
    state: dict[str, Any]  # state.json
    config: dict[str, Any]  # config.json
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    optimizer: dict[str, Any]  # {group: optimiser state}
    rng: dict[str, Any]  # this process's capture_rng


def read_checkpoint(folder: Path, rank: int = 0) -> CheckpointFiles:
    """The files of ``folder`` for process ``rank``; one that is missing, cut short or not
    what it should be is a ``FlowvoxError`` naming it."""
    return CheckpointFiles(
        folder=folder,
        state=load_json(folder / "state.json"),
        config=load_json(folder / "config.json"),
        model=load_tensors(folder / "model.safetensors"),
        ema=load_tensors(folder / "ema.safetensors"),
        optimizer=load_torch(folder / "optimizer.pt"),
        rng=load_torch(folder / f"rng-{rank}.pt"),
    )


def read_newest_checkpoint(
    folders: list[Path], rank: int = 0, warn: bool = True
) -> CheckpointFiles:
    """The newest of ``folders`` (oldest first, as ``list_checkpoints``) that reads whole.
    A newer one that does not (a disk filled or a copy cut short) is passed over with a
    warning naming it and the one used instead, never silently; none readable is a
    ``FlowvoxError``."""
    unreadable: list[tuple[Path, FlowvoxError]] = []
    for folder in reversed(folders):
        try:
            found = read_checkpoint(folder, rank)
        except FlowvoxError as err:
            unreadable.append((folder, err))
            continue
        for bad, err in unreadable if warn else ():
            LOG.warning(
                "checkpoint %s cannot be read (%s); resuming from %s instead", bad, err, folder,
            )  # fmt: skip
        return found
    bad, err = unreadable[0]
    raise FlowvoxError(f"no checkpoint in {bad.parent} can be read; the newest: {err}")


def capture_rng(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Every random state a training step can touch, as tensors and plain values."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "generators": {name: g.get_state() for name, g in generators.items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    """Inverse of ``capture_rng``."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, g in generators.items():
        g.set_state(state["generators"][name])


def write_model_dir(
    out_dir: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    config: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    extra_files: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (+ ``extra_files(folder)``) atomically."""
    out_dir = Path(out_dir)
    tmp = temporary_dir(out_dir.parent, out_dir.name)
    try:
        save_tensors(tmp / "model.safetensors", tensors, metadata)
        save_config_json(config, tmp / "config.json")
        if extra_files is not None:
            extra_files(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # frees what it held (a full disk, say)
        raise
    publish_dir(tmp, out_dir)
    return out_dir


def export_checkpoint(checkpoint_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """An inference folder (EMA weights + config.json) from a training checkpoint folder."""

    checkpoint_dir = Path(checkpoint_dir)
    if not (checkpoint_dir / "ema.safetensors").is_file():
        raise FlowvoxError(f"{checkpoint_dir}: not a training checkpoint (no ema.safetensors)")
    config = load_config_json(checkpoint_dir / "config.json")
    run = run_config_from_dict(config)
    task = resolve_task(run.task)(run.task_config)
    tensors = task.export_state_dict(load_tensors(checkpoint_dir / "ema.safetensors"))
    state = load_json(checkpoint_dir / "state.json")
    metadata = {"weights": "ema", "step": state["step"]}
    if "train_seconds" in state:  # absent in checkpoints written before 2026-11
        metadata["train_seconds"] = round(state["train_seconds"])
    exported = task.export_config(config)
    return write_model_dir(out_dir, tensors, exported, metadata, task.export_files)
