"""Run a function over chunks of work, inline or in a process pool, with one progress bar.

The corpus builders (speech and sound) share it: each chunk is one call of ``function``; the
bar advances by ``count(result)`` items as results come in. Workers are forked where the
platform allows, so they inherit the imported modules instead of importing them again
(seconds each); like torch's DataLoader workers they run no torch or OpenMP code. The pool
is started before tqdm's monitor thread, and stopped (pending chunks cancelled) on any error
or Ctrl-C, so finished chunks stay on disk for a resumed run.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from tqdm import tqdm

R = TypeVar("R")


def run_chunks(
    function: Callable[..., R],
    args: Sequence[tuple[Any, ...]],
    count: Callable[[R], int],
    total: int,
    workers: int | None = None,
    desc: str = "",
    unit: str = "item",
    progress: bool = True,
) -> list[R]:
    """``[function(*a) for a in args]``, in order; ``workers`` None uses every core, 1 (or one
    chunk) runs inline."""
    workers = min(workers or os.cpu_count() or 1, max(len(args), 1))
    bar = dict(total=total, unit=unit, desc=desc, disable=not progress)
    if workers <= 1:
        with tqdm(**bar) as shown:
            return [_counted(function(*a), count, shown) for a in args]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(function, *a) for a in args]  # forks before tqdm's thread
        try:
            with tqdm(**bar) as shown:
                return [_counted(f.result(), count, shown) for f in futures]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _counted(result: R, count: Callable[[R], int], bar: tqdm) -> R:
    bar.update(count(result))
    return result
