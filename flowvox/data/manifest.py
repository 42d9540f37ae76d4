"""JSONL manifests: one utterance per line.

A line is a JSON object with the keys of ``ManifestEntry``: ``audio`` (path, relative to the
manifest's folder or absolute), ``text``, ``speaker``, ``language``, ``duration`` (seconds),
and optionally ``split`` ("train" / "test") and ``extra`` (a dict kept as it is).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_path

REQUIRED_KEYS = ("audio", "text")
KNOWN_KEYS = {"audio", "text", "speaker", "language", "duration", "split", "extra"}


@dataclass
class ManifestEntry:
    """One utterance: where its audio is and what is said in it."""

    audio: str
    text: str
    speaker: str = "unknown"
    language: str = "en"
    duration: float | None = None
    split: str = "train"
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        record = {k: v for k, v in asdict(self).items() if v not in (None, {})}
        return json.dumps(record, ensure_ascii=False)


def parse_manifest_line(line: str, where: str) -> ManifestEntry:
    """Parse one JSONL line; ``where`` (``file:line``) names it in errors."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise FlowvoxError(f"{where}: not valid JSON ({err.msg})") from err
    if not isinstance(record, dict):
        raise FlowvoxError(f"{where}: a manifest line must be a JSON object")
    for key in REQUIRED_KEYS:
        value = record.get(key)
        if not isinstance(value, str) or not value.strip():
            raise FlowvoxError(f"{where}: the entry has no {key!r} (a non-empty string is needed)")
    unknown = sorted(set(record) - KNOWN_KEYS)
    if unknown:
        raise FlowvoxError(f"{where}: unknown keys {unknown}; known keys are {sorted(KNOWN_KEYS)}")
    return ManifestEntry(**record)


@dataclass
class LocatedEntry:
    """An entry and where it came from (``file:line``, or the transcript file), for errors."""

    entry: ManifestEntry
    origin: str


def iter_manifest_located(path: str | os.PathLike) -> Iterator[LocatedEntry]:
    """Like ``iter_manifest``, each entry paired with its ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{path}: no such manifest file")
    root = path.resolve().parent
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            entry = parse_manifest_line(line, where)
            entry.audio = str(root / entry.audio)
            yield LocatedEntry(entry, where)


def iter_manifest(path: str | os.PathLike) -> Iterator[ManifestEntry]:
    """Yield the entries of a JSONL manifest, with ``audio`` resolved to an absolute path."""
    for located in iter_manifest_located(path):
        yield located.entry


def read_manifest(path: str | os.PathLike) -> list[ManifestEntry]:
    """All entries of a JSONL manifest (see ``iter_manifest``)."""
    return list(iter_manifest(path))


def write_manifest(path: str | os.PathLike, entries: Iterable[ManifestEntry]) -> None:
    """Write entries atomically; audio paths inside the manifest's folder become relative."""
    path = Path(path)
    root = path.resolve().parent
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as out:
        for entry in entries:
            audio = Path(entry.audio)
            if audio.is_absolute() and audio.resolve().is_relative_to(root):
                audio = audio.resolve().relative_to(root)
            record = ManifestEntry(**{**asdict(entry), "audio": str(audio)})
            out.write(record.to_json() + "\n")
