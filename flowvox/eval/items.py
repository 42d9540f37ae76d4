"""The test manifest of ``flowvox eval``: what to say, in whose voice, and the true recording.

A JSONL file, one utterance per line, read by ``flowvox generate``'s reader
(:func:`flowvox.infer.bulk_source.read_bulk_source`: ``text``, optional ``id``,
``ref_audio``, ``ref_text``, ``speaker``, ``language``) plus the optional ground truth
``audio`` (relative to the manifest's folder or absolute) and ``extra`` (a dict; its
``group``, e.g. "seen", "unseen" or "librivox", splits the summary). A corpus manifest is
also a test manifest: each line's own ``audio`` is its ground truth.

Every named file is checked here, before anything is synthesised or written, so a bad
manifest fails at once with one line naming the file and the line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from flowvox.audio.io import AUDIO_SUFFIXES
from flowvox.errors import FlowvoxError
from flowvox.infer.bulk_source import read_bulk_source


@dataclass(frozen=True)
class EvalItem:
    """One test utterance. Paths are absolute; ``origin`` is ``file:line``."""

    id: str
    text: str
    origin: str
    ref_audio: str | None = None
    ref_text: str | None = None
    audio: str | None = None  # ground-truth recording of ``text``
    speaker: str | None = None
    language: str = "en"
    group: str = "all"


def read_eval_items(path: str | os.PathLike) -> list[EvalItem]:
    """The items of a test manifest, every referenced file checked to exist.

    Raises ``FlowvoxError`` for a missing or bad manifest (see ``read_bulk_source``), a
    ``.txt`` source (the test manifest must be JSONL), or a missing audio file.
    """
    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise FlowvoxError(
            f"{path}: a test manifest is a .jsonl file (lines with 'text' and optional 'id', "
            "'ref_audio', 'ref_text', 'audio'); make one with flowvox eval testset"
        )
    bulk = read_bulk_source(path)
    root = path.resolve().parent
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = []
    for item, line in zip(bulk, lines, strict=True):
        record = json.loads(line)
        audio = record.get("audio")
        if audio is not None and (not isinstance(audio, str) or not audio.strip()):
            raise FlowvoxError(f"{item.origin}: 'audio' must be a path string, got {audio!r}")
        extra = record.get("extra") or {}
        if not isinstance(extra, dict):
            raise FlowvoxError(f"{item.origin}: 'extra' must be an object, got {extra!r}")
        eval_item = EvalItem(
            id=item.id,
            text=item.text,
            origin=item.origin,
            ref_audio=item.ref_audio,
            ref_text=item.ref_text,
            audio=str(root / audio) if audio else None,
            speaker=item.speaker,
            language=item.language or "en",
            group=str(extra.get("group", "all")),
        )
        for key in ("ref_audio", "audio"):
            named = getattr(eval_item, key)
            if named is not None and not Path(named).is_file():
                raise FlowvoxError(f"{item.origin}: {key} {named}: no such audio file")
        items.append(eval_item)
    return items


def find_generated(items: list[EvalItem], audio_dir: str | os.PathLike) -> dict[str, Path]:
    """The generated file of each item: ``DIR/<id>.wav`` (or .flac/.ogg), or ``DIR/wavs/<id>.*``
    as ``flowvox generate`` writes. Raises ``FlowvoxError`` naming the ids with no file."""
    folder = Path(audio_dir)
    if not folder.is_dir():
        raise FlowvoxError(f"--audio-dir {folder}: no such folder")
    found, missing = {}, []
    for item in items:
        candidates = [
            base / f"{item.id}{suffix}"
            for base in (folder, folder / "wavs")
            for suffix in AUDIO_SUFFIXES
        ]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            missing.append(item.id)
        else:
            found[item.id] = hit
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise FlowvoxError(
            f"--audio-dir {folder}: no audio for {len(missing)} of {len(items)} ids ({shown}); "
            "name each file <id>.wav after the manifest's ids"
        )
    return found
