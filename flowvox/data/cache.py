"""The on-disk mel cache written by ``prepare_dataset`` and read by ``MelDataset``.

Axis letters: n frames, f mel bins.

Layout of a prepared folder::

    mel_config.json            the MelConfig every cached mel was computed with
    mels/<stem>-<hash>.safetensors
                               one file per audio file: tensor "mel", float32 (n, f), and
                               string metadata (format, mel preset, source path, size,
                               mtime_ns, sample rate, samples); <hash> = sha1 of the
                               resolved source path
    <split>.jsonl              the prepared manifest(s); extra["mel"] is the cache file
                               relative to the folder, extra["mel_frames"] its n

safetensors holds raw tensors and a JSON header only: loading never unpickles. A cache
file whose recorded source size or mtime differs from the audio file is stale and is
recomputed by the next ``prepare_dataset``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_path, atomic_write_text

MEL_CONFIG_FILE = "mel_config.json"
MEL_DIR = "mels"
CACHE_FORMAT = "flowvox-mel-v1"


def mel_cache_name(audio: str | os.PathLike) -> str:
    """Cache file name (relative to the prepared folder) for an audio file."""
    resolved = str(Path(audio).resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(audio).stem)[:40]
    return f"{MEL_DIR}/{stem}-{digest}.safetensors"


def source_signature(audio: str | os.PathLike) -> dict[str, str]:
    """Size and modification time of the source file, as stored in cache metadata."""
    stat = Path(audio).stat()
    return {"source_size": str(stat.st_size), "source_mtime_ns": str(stat.st_mtime_ns)}


def write_mel(path: str | os.PathLike, mel: torch.Tensor, metadata: dict[str, str]) -> None:
    """Write one (n, f) mel atomically, with string ``metadata`` in the header."""
    header = {"format": CACHE_FORMAT, **{k: str(v) for k, v in metadata.items()}}
    with atomic_path(path) as tmp:
        save_file({"mel": mel.detach().float().contiguous().cpu()}, str(tmp), metadata=header)


def read_mel_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The header metadata of a cache file (reads no tensor data)."""
    with safe_open(str(path), framework="pt") as cached:
        return dict(cached.metadata() or {})


def read_mel(path: str | os.PathLike, n_mels: int | None = None) -> torch.Tensor:
    """The (n, f) mel of a cache file; ``FlowvoxError`` when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{path}: cached mel missing; run `flowvox prepare` again")
    try:
        with safe_open(str(path), framework="pt") as cached:
            mel = cached.get_tensor("mel")
    except Exception as err:  # safetensors raises its own error types
        raise FlowvoxError(
            f"{path}: unreadable mel cache file ({err}); delete it and run `flowvox prepare` again"
        ) from err
    if mel.dim() != 2 or (n_mels is not None and mel.shape[1] != n_mels):
        raise FlowvoxError(
            f"{path}: cached mel has shape {tuple(mel.shape)}, expected (frames, {n_mels}); "
            "run `flowvox prepare` again"
        )
    return mel


def save_cache_config(folder: str | os.PathLike, config: MelConfig) -> None:
    """Write ``mel_config.json`` into a prepared folder (atomically)."""
    text = json.dumps(config.to_dict(), indent=2) + "\n"
    atomic_write_text(Path(folder) / MEL_CONFIG_FILE, text)


def load_cache_config(folder: str | os.PathLike) -> MelConfig:
    """The ``MelConfig`` stored in a prepared folder."""
    path = Path(folder) / MEL_CONFIG_FILE
    if not path.is_file():
        raise FlowvoxError(
            f"{folder}: no {MEL_CONFIG_FILE}; not a prepared folder "
            "(run `flowvox prepare DATA OUT_DIR` first)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise FlowvoxError(
            f"{path}: not valid JSON ({err.msg}); run `flowvox prepare` again"
        ) from err
    return MelConfig.from_dict(data)


def check_cache_config(folder: str | os.PathLike, requested: MelConfig) -> MelConfig:
    """Stored config of ``folder``; ``FlowvoxError`` naming both presets when it differs."""
    stored = load_cache_config(folder)
    try:
        requested.check_same(stored, "the requested mel config", f"the mel cache in {folder}")
    except FlowvoxError as err:
        raise FlowvoxError(
            f"{err} (to use this cache ask for mel preset {stored.name!r}; for another preset "
            "prepare into a new folder)"
        ) from None
    return stored
