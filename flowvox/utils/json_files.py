"""JSON files read and appended the one way: a JSON object read with one-line errors, and
JSONL lines appended with one write, flushed to disk (a crash loses whole lines only)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowvox.errors import FlowvoxError


def read_json_object(
    path: str | os.PathLike, missing: str, fix: str = "", holding: str = ""
) -> dict[str, Any]:
    """The JSON object in ``path``; one-line ``FlowvoxError``s: "<path> not found: <missing>",
    "not a readable JSON file (...)[; <fix>]", "expected a JSON object[ holding <holding>]"."""
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{path} not found: {missing}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        tail = f"; {fix}" if fix else ""
        raise FlowvoxError(f"{path}: not a readable JSON file ({err}){tail}") from err
    if not isinstance(data, dict):
        raise FlowvoxError(
            f"{path}: expected a JSON object" + (f" holding {holding}" if holding else "")
        )
    return data


def append_jsonl(path: str | os.PathLike, records: Sequence[dict[str, Any]]) -> None:
    """Append ``records`` as JSON lines with one write, flushed to disk (nothing when empty)."""
    if not records:
        return
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
