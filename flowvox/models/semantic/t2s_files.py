"""The output file of ``flowvox semantic generate`` for either T2S family: OUT/tokens.jsonl.

One line per input line, in the token-file format of ``flowvox semantic encode`` (so
``flowvox semantic decode OUT/tokens.jsonl`` reads it back), plus what made it::

    {"id": 3, "text": "...", "codes": [17, 402, ...], "codebook_size": 512, "rate": 25.0,
     "seed": 3, ...the family's sampling settings}

``id`` is the line number in LINES.txt (blank lines are skipped). ``write_token_lines``
appends each batch's lines with one write; a rerun keeps the lines already there (a torn
last line of a killed run is dropped, by an atomic rewrite) and makes only the missing ones.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_write_text
from flowvox.utils.json_files import append_jsonl

TOKENS_FILE = "tokens.jsonl"

# (line id, text) pairs of one batch -> one finished record per pair, "codes" included
BatchFn = Callable[[list[tuple[int, str]]], list[dict]]


@dataclass(frozen=True)
class GenerateReport:
    """What one run did: lines made now, lines kept from before, codes made, seconds."""

    path: Path
    made: int
    kept: int
    codes: int
    seconds: float

    def summary(self) -> str:
        kept = f", kept {self.kept} from before" if self.kept else ""
        return (f"wrote {self.path}: {self.made} lines, {self.codes} semantic tokens in "
                f"{self.seconds:.1f} s{kept}")  # fmt: skip


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """OUT_DIR as a path: a folder, or a new name in an existing folder."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"{out}: exists and is not a folder; choose another OUT_DIR")
    if not out.parent.is_dir():
        raise FlowvoxError(f"{out.parent}: no such folder for OUT_DIR; create it first")
    return out


def write_token_lines(
    items: Sequence[tuple[int, str]],
    out: Path,
    make_batch: BatchFn,
    batch_size: int,
    progress: bool = True,
) -> GenerateReport:
    """OUT/tokens.jsonl for ``items`` (line id, text), ``batch_size`` lines per
    ``make_batch`` call, skipping the lines a previous run finished (module docstring)."""
    path = out / TOKENS_FILE
    done = _finished(path, items)
    todo = [(n, t) for n, t in items if n not in done]
    out.mkdir(exist_ok=True)
    start, made_codes = time.perf_counter(), 0
    with _progress_bar(len(items), len(items) - len(todo), progress) as bar:
        for first in range(0, len(todo), batch_size):
            batch = todo[first : first + batch_size]
            records = make_batch(batch)
            append_jsonl(path, records)
            made_codes += sum(len(r["codes"]) for r in records)
            bar.update(len(batch))
    seconds = time.perf_counter() - start
    return GenerateReport(path, len(todo), len(items) - len(todo), made_codes, seconds)


def _finished(path: Path, items: Sequence[tuple[int, str]]) -> set[int]:
    """Ids of LINES already in ``path`` with the same text; a line whose text changed since
    is an error. Torn (a killed run's last) and repeated lines are dropped by an atomic
    rewrite; lines of ids LINES no longer has are kept."""
    if not path.is_file():
        return set()
    texts = dict(items)
    kept, good, seen = [], set(), set()
    raw = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for line in raw:
        record = _parse(line)
        if record is None or record["id"] in seen:
            continue
        seen.add(record["id"])
        kept.append(line)
        if record["id"] not in texts:
            continue
        if record["text"] != texts[record["id"]]:
            raise FlowvoxError(
                f"{path}: line {record['id']} was made from other text "
                f"({str(record['text'])[:40]!r}); LINES changed since: use a new OUT_DIR"
            )
        good.add(record["id"])
    if len(kept) != len(raw):
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    return good


def _parse(line: str) -> dict | None:
    """A finished line's record ({"id": int, "text", "codes": non-empty list}), else None."""
    try:
        record = json.loads(line)
        ok = isinstance(record["id"], int) and isinstance(record["codes"], list)
        return record if ok and record["codes"] and "text" in record else None
    except (ValueError, KeyError, TypeError):
        return None


def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc="semantic generate", unit="line",
                file=sys.stderr, disable=not enabled, dynamic_ncols=True)  # fmt: skip
