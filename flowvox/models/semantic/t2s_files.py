"""The output file of ``flowvox semantic generate`` for either T2S family: OUT/tokens.jsonl.

One line per input line, in the token-file format of ``flowvox semantic encode`` (so
``flowvox semantic decode OUT/tokens.jsonl`` reads it back), plus what made it::

    {"id": 3, "text": "...", "codes": [17, 402, ...], "codebook_size": 512, "rate": 25.0,
     "seed": 3, ...the family's sampling settings}

``id`` is the line number in LINES.txt (blank lines are skipped). ``write_token_lines``
appends each batch's lines with one write; a rerun keeps the lines already there (a torn
last line of a killed run is dropped, by an atomic rewrite) and makes only the missing ones.
Batches are always cut from the whole of LINES (``batch_size`` lines each) and a rerun drops
the finished lines from them, so a line comes from the same batch in any run.

Under torchrun or accelerate launch (RANK, WORLD_SIZE) rank k makes batches i with
i % WORLD_SIZE == k into OUT/tokens.rank-000k.jsonl, and the parts are merged into
OUT/tokens.jsonl in line order when all ranks are done (``flowvox.utils.distributed``):
the file one process writes.
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
from flowvox.utils.distributed import (
    Launch,
    finish,
    merge_parts,
    own_file,
    part_paths,
    whole_lines,
)
from flowvox.utils.json_files import append_jsonl

TOKENS_FILE = "tokens.jsonl"

# (line id, text) pairs of one batch -> one finished record per pair, "codes" included
BatchFn = Callable[[list[tuple[int, str]]], list[dict]]


@dataclass(frozen=True)
class GenerateReport:
    """What one run did: lines made now, lines kept from before, codes made, seconds; which
    process of how many it was, and whether the parts were merged (False: they wait for a
    plain run)."""

    path: Path
    made: int
    kept: int
    codes: int
    seconds: float
    launch: Launch = Launch()
    merged: bool = True

    def summary(self) -> str:
        kept = f", kept {self.kept} from before" if self.kept else ""
        who = f"{self.launch.label}: " if self.launch.label else ""
        text = (f"{who}wrote {self.path}: {self.made} lines, {self.codes} semantic tokens in "
                f"{self.seconds:.1f} s{kept}")  # fmt: skip
        if not self.merged:
            text += (
                f"; its lines are in {self.path.stem}.rank-*.jsonl: once every rank is done, "
                "run the same command once without RANK/WORLD_SIZE to merge them"
            )
        return text


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
    launch: Launch | None = None,
) -> GenerateReport:
    """OUT/tokens.jsonl for ``items`` (line id, text), ``batch_size`` lines per
    ``make_batch`` call, skipping the lines a previous run finished (module docstring).
    ``launch``: this process's share (the CLI passes ``launch_from_env()``); None: one
    process, whatever the environment."""
    launch = Launch() if launch is None else launch
    path = out / TOKENS_FILE
    own = own_file(path, launch)  # the file this process appends to
    done = _finished(path, items, own)
    plan = [list(items[first : first + batch_size]) for first in range(0, len(items), batch_size)]
    batches = [[(n, t) for n, t in batch if n not in done] for batch in launch.shard(plan)]
    batches = [batch for batch in batches if batch]
    out.mkdir(exist_ok=True)
    kept, made = sum(n in done for n, _ in items), sum(map(len, batches))
    start, made_codes = time.perf_counter(), 0
    bar = _progress_bar(kept + made, kept, progress and launch.rank == 0, launch.label)
    with bar:
        for batch in batches:
            records = make_batch(batch)
            append_jsonl(own, records)
            made_codes += sum(len(r["codes"]) for r in records)
            bar.update(len(batch))
    seconds = time.perf_counter() - start
    order = [n for n, _ in items]
    merged = finish(launch, lambda: merge_parts(path, _record_id, order))
    return GenerateReport(path, made, kept, made_codes, seconds, launch, merged)


def _finished(path: Path, items: Sequence[tuple[int, str]], own: Path) -> set[int]:
    """Ids of LINES already in ``path`` or in any rank's part with the same text; a line
    whose text changed since is an error. In ``own`` (the file this process appends to)
    torn (a killed run's last) and repeated lines are dropped by an atomic rewrite; other
    files are only read (another rank may be appending to its part now). Lines of ids LINES
    no longer has are kept."""
    texts = dict(items)
    good, seen = set(), set()
    for file in [path, *part_paths(path)]:
        raw, torn = whole_lines(file)
        kept = []
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
                    f"{file}: line {record['id']} was made from other text "
                    f"({str(record['text'])[:40]!r}); LINES changed since: use a new OUT_DIR"
                )
            good.add(record["id"])
        if file == own and (torn or len(kept) != len(raw)):
            atomic_write_text(file, "".join(line + "\n" for line in kept))
    return good


def _record_id(line: str) -> int | None:
    """For ``merge_parts``: a finished line's id, else None."""
    record = _parse(line)
    return None if record is None else record["id"]


def _parse(line: str) -> dict | None:
    """A finished line's record ({"id": int, "text", "codes": non-empty list}), else None."""
    try:
        record = json.loads(line)
        ok = isinstance(record["id"], int) and isinstance(record["codes"], list)
        return record if ok and record["codes"] and "text" in record else None
    except (ValueError, KeyError, TypeError):
        return None


def _progress_bar(total: int, done: int, enabled: bool, label: str = ""):
    from tqdm import tqdm

    desc = f"semantic generate ({label})" if label else "semantic generate"
    return tqdm(total=total, initial=done, desc=desc, unit="line",
                file=sys.stderr, disable=not enabled, dynamic_ncols=True)  # fmt: skip
