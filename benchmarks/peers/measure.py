"""Timing and memory helpers for side-by-side peer benchmarks (one process, CPU).

Time: each contender runs once to warm up, then ``rounds`` times, interleaved (the order
alternates every round so neither always runs second); the median wall time is reported.
Memory: growth of the resident set during one call, from the kernel's high-water mark:
``/proc/self/clear_refs`` ← 5 resets VmHWM to the current VmRSS, then
peak = VmHWM after the call − VmRSS before it. glibc keeps freed small blocks, so run the
process with ``MALLOC_MMAP_THRESHOLD_`` set (run_all.sh does): every large tensor is then its
own mapping, returned on free, and one contender's freed memory cannot hide the other's.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"


@dataclass(frozen=True)
class Timing:
    """median, runs: seconds per call (median over ``runs``); peak_mb: RSS growth, MiB."""

    median: float
    runs: tuple[float, ...]
    peak_mb: float | None


def _status_kb(field: str) -> int | None:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1)) if match else None


def peak_rss_growth_mb(fn: Callable[[], object]) -> float | None:
    """MiB the resident set grew to at most while ``fn()`` ran; None off Linux."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        fn()
        return None
    before = _status_kb("VmRSS")
    fn()
    peak = _status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return max(peak - before, 0) / 1024.0


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, Timing]:
    """Warm-up (with the memory probe), then ``rounds`` timed calls each, alternating order."""
    peaks = {name: peak_rss_growth_mb(fn) for name, fn in contenders.items()}
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            contenders[name]()
            runs[name].append(time.perf_counter() - start)
    return {
        name: Timing(statistics.median(runs[name]), tuple(runs[name]), peaks[name])
        for name in contenders
    }


def hardware_line() -> str:
    """CPU model, logical cores, torch threads, torch version."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} thread(s), Python {platform.python_version()}"
    )


def memory_note() -> str:
    if MMAP_ENV in os.environ:
        return f"peak RSS growth per call ({MMAP_ENV}={os.environ[MMAP_ENV]})"
    return f"peak RSS growth per call ({MMAP_ENV} unset: figures may undercount)"
