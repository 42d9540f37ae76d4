"""Reading what ``flowvox generate`` should say, and packing it into frame-budget batches.

A source is either a text file (one utterance per line, blank lines skipped, id
``line-NNNNNN`` from the 1-based line number) or a JSONL manifest (``.jsonl``) whose lines
are objects with ``text`` and optionally ``id``, ``ref_audio`` (relative to the manifest's
folder or absolute), ``ref_text``, ``speaker`` and ``language``. A corpus manifest's own keys
(``audio``, ``duration``, ``split``, ``extra``) are accepted and ignored, so a corpus
manifest can be re-spoken as it is.

Batching: ``Synthesizer.speak_batch`` takes one reference per call, so items are grouped by
(ref_audio, ref_text); inside a group they are sorted by their estimated frame count and
packed greedily while (items + 1) · max(longest, its frames) ≤ ``batch_frames`` (the padded
frames of the batch, as in ``flowvox.data.FrameBudgetBatchSampler``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from flowvox.errors import FlowvoxError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SOURCE_KEYS = {"id", "text", "ref_audio", "ref_text", "speaker", "language"}
IGNORED_KEYS = {"audio", "duration", "split", "extra"}  # a corpus manifest's own keys
MANIFEST_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class BulkItem:
    """One utterance to make; ``origin`` (``file:line``) names it in messages."""

    id: str
    text: str
    origin: str
    ref_audio: str | None = None
    ref_text: str | None = None
    speaker: str | None = None
    language: str | None = None

    @property
    def reference_key(self) -> tuple[str | None, str | None]:
        """Items with the same key can share one ``speak_batch`` call."""
        return (self.ref_audio, self.ref_text)


def read_bulk_source(
    path: str | os.PathLike,
    ref_audio: str | os.PathLike | None = None,
    ref_text: str | None = None,
) -> list[BulkItem]:
    """The items of a text file or JSONL manifest (see the module docstring).

    ``ref_audio``/``ref_text`` are given to every item that names no reference of its own.

    Raises ``FlowvoxError`` for a missing or empty source, a bad JSONL line, an id that is
    not a safe file name, or an id used twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{path}: no such file; give a text file or a .jsonl manifest")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise FlowvoxError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from err
    is_manifest = path.suffix.lower() in MANIFEST_SUFFIXES
    items: list[BulkItem] = []
    seen: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        if is_manifest:
            item = _manifest_item(line, where, number, path.resolve().parent)
        else:
            item = BulkItem(id=f"line-{number:06d}", text=line.strip(), origin=where)
        if item.ref_audio is None and ref_audio is not None:
            item = replace(item, ref_audio=str(ref_audio), ref_text=ref_text)
        if item.id in seen:
            raise FlowvoxError(f"{where}: id {item.id!r} is also used at {seen[item.id]}")
        seen[item.id] = where
        items.append(item)
    if not items:
        raise FlowvoxError(f"{path}: no text to speak (every line is blank)")
    return items


def _manifest_item(line: str, where: str, number: int, root: Path) -> BulkItem:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise FlowvoxError(f"{where}: not valid JSON ({err.msg})") from err
    if not isinstance(record, dict):
        raise FlowvoxError(f"{where}: a manifest line must be a JSON object with 'text'")
    unknown = sorted(set(record) - SOURCE_KEYS - IGNORED_KEYS)
    if unknown:
        raise FlowvoxError(f"{where}: unknown keys {unknown}; known keys are {sorted(SOURCE_KEYS)}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise FlowvoxError(f"{where}: the entry has no 'text' (a non-empty string is needed)")
    for key in ("id", "ref_audio", "ref_text", "speaker", "language"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise FlowvoxError(f"{where}: {key!r} must be a string, got {record[key]!r}")
    item_id = record.get("id") or f"line-{number:06d}"
    if not ID_PATTERN.match(item_id):
        raise FlowvoxError(
            f"{where}: id {item_id!r} is not a safe file name; use letters, digits, '.', '_', "
            "'-' (at most 128, not starting with '.' or '-')"
        )
    ref_audio = record.get("ref_audio")
    if ref_audio:
        ref_audio = str(root / ref_audio)  # an absolute path stays as it is
    if record.get("ref_text") and not ref_audio:
        raise FlowvoxError(f"{where}: 'ref_text' needs 'ref_audio' (the clip it transcribes)")
    return BulkItem(
        id=item_id,
        text=text.strip(),
        origin=where,
        ref_audio=ref_audio or None,
        ref_text=record.get("ref_text") or None,
        speaker=record.get("speaker"),
        language=record.get("language"),
    )


def pack_batches(
    items: Sequence[BulkItem], frames: Callable[[BulkItem], int], batch_frames: int
) -> list[list[BulkItem]]:
    """Batches of items sharing a reference, similar lengths, padded frames ≤ ``batch_frames``.

    Within a reference group items are sorted by ``frames(item)`` (stable); an item joins
    the open batch while (k + 1) · max(longest, frames) ≤ ``batch_frames``; an item longer
    than the budget is a batch of its own. Groups keep their order of first appearance.
    """
    if batch_frames < 1:
        raise FlowvoxError(f"--batch-frames must be at least 1, got {batch_frames}")
    groups: dict[tuple[str | None, str | None], list[BulkItem]] = {}
    for item in items:
        groups.setdefault(item.reference_key, []).append(item)
    batches: list[list[BulkItem]] = []
    for group in groups.values():
        sized = sorted(((frames(item), item) for item in group), key=lambda pair: pair[0])
        batch: list[BulkItem] = []
        longest = 0
        for size, item in sized:
            if batch and (len(batch) + 1) * max(longest, size) > batch_frames:
                batches.append(batch)
                batch, longest = [], 0
            batch.append(item)
            longest = max(longest, size)
        if batch:
            batches.append(batch)
    return batches
