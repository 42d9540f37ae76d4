"""Bulk generation over many processes (``torchrun``, ``accelerate launch``, several nodes):
which process this is, which batches are its own, and folding every process's output into
one file.

A launcher starts one process per GPU (or CPU socket) on each node and gives each its place
in the environment: RANK (0 .. WORLD_SIZE - 1), WORLD_SIZE and LOCAL_RANK (its GPU on its
node). No WORLD_SIZE: one process, rank 0 of 1.

Sharding needs no communication. Every rank (and a single process finishing the parts of
ranks) packs the whole source into the batches one process would make, in the order one
process would run them (the *plan*), and takes plan
batch i when i % WORLD_SIZE == RANK: round robin, so the long batches at the head of the
plan spread over all ranks. Batches are never re-formed around what is already done (that
would depend on the moment a rank looked at the folder): a rank drops the finished items
from its batches and runs what is left. So every output comes from the batch it gets in one
process, and a rerun with any WORLD_SIZE makes exactly what is missing.

Files: a single process appends to ``OUT/manifest.jsonl`` (or ``tokens.jsonl``) itself.
Otherwise rank k appends to its own *part* ``OUT/manifest.rank-000k.jsonl``; an item listed
in the merged file or in any part is done for every rank. When all ranks are done, the parts
are folded into the merged file (``merge_parts``): its own lines first, as they are, then
the parts' lines in plan order, written atomically; then the parts are removed. A fresh run
on any number of ranks therefore writes the bytes one process writes.

Who merges: the ranks meet at a barrier (a gloo process group over the rendezvous the
launcher already set up, MASTER_ADDR and MASTER_PORT; CPU sockets only, even beside GPUs),
rank 0 merges, and all meet again before exiting, because torchrun stops every rank as soon
as one exits with an error (exit 1 for lines that failed) and the merge must not be cut
short. A barrier was chosen over barrier-free "done" marker files: markers need exclusive
creation and cross-node visibility that shared filesystems (NFS, Lustre) give unevenly, and
stale markers of a crashed run look like this run's; the rendezvous already knows when every
rank is done. Without MASTER_ADDR (RANK and WORLD_SIZE set by hand, e.g. a job array) no
rank merges: one plain run afterwards (no WORLD_SIZE) makes what is missing and merges.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_write_text

T = TypeVar("T")
# ranks that finish first wait (idle) for the slowest one; a week covers any real job
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Launch:
    """This process's place among the processes a launcher started: ``rank`` of ``world``,
    ``local_rank`` on its node (its GPU), and whether the ranks can meet (``rendezvous``:
    MASTER_ADDR and MASTER_PORT are set, as torchrun and accelerate set them)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    rendezvous: bool = False

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world or self.local_rank < 0:
            raise FlowvoxError(
                f"RANK={self.rank}, WORLD_SIZE={self.world}, LOCAL_RANK={self.local_rank}: "
                "need WORLD_SIZE >= 1 and 0 <= RANK < WORLD_SIZE; launch with torchrun or "
                "accelerate launch, or unset them for one process"
            )

    @property
    def label(self) -> str:
        """ "rank 3 of 8" ("" for one process), to start a rank's messages with."""
        return f"rank {self.rank} of {self.world}" if self.world > 1 else ""

    def shard(self, plan: Sequence[T]) -> list[T]:
        """This rank's batches of ``plan``: batch i when i % world == rank."""
        return list(plan[self.rank :: self.world])


def launch_from_env(environ: Mapping[str, str] | None = None) -> Launch:
    """The ``Launch`` that RANK, WORLD_SIZE and LOCAL_RANK (torchrun, accelerate launch)
    describe; one process when WORLD_SIZE is unset. A value that is not a whole number is a
    ``FlowvoxError`` naming it."""
    env = os.environ if environ is None else environ
    if not env.get("WORLD_SIZE"):
        return Launch()
    values = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        text = env.get(name) or ("0" if name == "LOCAL_RANK" else "")
        try:
            values[name] = int(text)
        except ValueError:
            raise FlowvoxError(
                f"{name}={text!r} in the environment is not a whole number; launch with "
                "torchrun or accelerate launch, or unset WORLD_SIZE for one process"
            ) from None
    rendezvous = bool(env.get("MASTER_ADDR")) and bool(env.get("MASTER_PORT"))
    return Launch(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], rendezvous)


def rank_device(device: str, launch: Launch) -> str:
    """``cuda:LOCAL_RANK`` for a bare ``cuda`` when several processes share the nodes (one
    GPU each); any other device as given. Too few GPUs for LOCAL_RANK is a FlowvoxError."""
    if device != "cuda" or launch.world == 1:
        return device
    import torch

    count = torch.cuda.device_count()
    if launch.local_rank >= count:
        raise FlowvoxError(
            f"LOCAL_RANK {launch.local_rank} needs GPU {launch.local_rank}, but this node has "
            f"{count}; start at most {count} processes per node (--nproc_per_node)"
        )
    return f"cuda:{launch.local_rank}"


# --- files -------------------------------------------------------------------------------


def part_path(path: Path, rank: int) -> Path:
    """OUT/manifest.jsonl, 3 -> OUT/manifest.rank-0003.jsonl."""
    return path.with_name(f"{path.stem}.rank-{rank:04d}{path.suffix}")


def part_paths(path: Path) -> list[Path]:
    """The parts of ``path`` present now, by rank (those of any earlier world size too)."""
    parts = path.parent.glob(f"{path.stem}.rank-[0-9][0-9][0-9][0-9]*{path.suffix}")
    ranked = [(p.stem.rsplit("-", 1)[-1], p) for p in parts]
    return [p for n, p in sorted((int(n), p) for n, p in ranked if n.isdigit())]


def own_file(path: Path, launch: Launch) -> Path:
    """The file this process appends to: ``path`` itself for a single process with no parts
    about, else this rank's part (a single process finishing parts writes part 0, and merges)."""
    if launch.world == 1 and not part_paths(path):
        return path
    return part_path(path, launch.rank)


def whole_lines(path: Path) -> tuple[list[str], bool]:
    """The complete lines of ``path`` (no file: none) and whether a torn last line (a run
    killed mid-append, or another rank writing now) was left out."""
    if not path.is_file():
        return [], False
    data = path.read_bytes().decode("utf-8", errors="replace")
    lines = data.splitlines()
    torn = bool(data) and not data.endswith("\n")
    return (lines[:-1] if torn else lines), torn


def merge_parts(
    path: Path, key: Callable[[str], Hashable | None], order: Sequence[Hashable]
) -> bool:
    """Fold the parts of ``path`` into it; False when there are none.

    ``key(line)``: the id of a finished record, or None for a line to drop. The result is
    ``path``'s own lines (first of each id) as they are, then the parts' lines of ids not
    yet there, in ``order`` (ids not in ``order`` after them, in the parts' order), written
    atomically; then the parts are removed (a merge cut short is finished by the next one).
    """
    parts = part_paths(path)
    if not parts:
        return False
    merged, seen = [], set()
    for line in whole_lines(path)[0]:
        item = key(line)
        if item is not None and item not in seen:
            seen.add(item)
            merged.append(line)
    found: dict[Hashable, str] = {}
    for part in parts:
        for line in whole_lines(part)[0]:
            item = key(line)
            if item is not None and item not in seen and item not in found:
                found[item] = line
    position = {item: i for i, item in enumerate(order)}
    late = len(position)
    merged += [found[i] for i in sorted(found, key=lambda i: position.get(i, late))]
    atomic_write_text(path, "".join(line + "\n" for line in merged))
    for part in parts:
        part.unlink(missing_ok=True)
    return True


# --- meeting ---------------------------------------------------------------------------


def finish(launch: Launch, merge: Callable[[], object]) -> bool:
    """Run ``merge`` once every rank is done: here for one process; on rank 0 between two
    barriers when the ranks can meet. False (nothing merged) when they cannot: a plain run
    merges later."""
    if launch.world == 1:
        merge()
        return True
    if not launch.rendezvous:
        return False
    import torch.distributed as dist

    own_group = not dist.is_initialized()  # a caller's script may have made one already
    if own_group:
        dist.init_process_group(
            "gloo", init_method="env://", rank=launch.rank, world_size=launch.world,
            timeout=BARRIER_TIMEOUT,
        )  # fmt: skip
    try:
        dist.barrier()  # every rank's records are in its part
        if launch.rank == 0:
            merge()
        dist.barrier()  # the merge is written: ranks may exit (with errors, too)
    finally:
        if own_group:
            dist.destroy_process_group()
    return True
