"""Timing and memory helpers for side-by-side peer benchmarks (one process, CPU).

Time: each contender runs once to warm up, once under the memory probe, then ``rounds``
times, interleaved (the order alternates every round so neither always runs second); the
median wall time is reported.
Memory: growth of the resident set during one call, from the kernel's high-water mark:
``/proc/self/clear_refs`` ← 5 resets VmHWM to the current VmRSS, then
peak = VmHWM after the call − VmRSS before it. glibc keeps freed blocks for reuse, so during
that probe its mmap threshold is set to 128 KiB (``mallopt``): every larger tensor is then its
own mapping, returned on free, and one contender's freed memory cannot hide the other's;
``malloc_trim(0)`` first hands back the free heap pages earlier calls left resident (without
it a warmed-up call reuses them and shows no growth at all). The timed calls run with the
threshold at 32 MiB, the ceiling glibc's own dynamic threshold grows to in a long-running
process: a 128 KiB threshold maps and faults in every activation afresh, which slowed bf16
sampling by a third and fp32 by 6 % in a test and is not how either package runs.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
PROBE_MMAP_BYTES = 128 * 1024
TIMED_MMAP_BYTES = 32 * 1024 * 1024


def set_mmap_threshold(size: int, trim: bool = False) -> bool:
    """glibc ``mallopt(M_MMAP_THRESHOLD, size)``, then ``malloc_trim(0)`` with ``trim``;
    False where there is no glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        done = bool(libc.mallopt(M_MMAP_THRESHOLD, size))
        if done and trim:
            libc.malloc_trim(0)
        return done
    except (OSError, AttributeError):
        return False


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
    """MiB the resident set grew to at most while ``fn()`` ran (mmap threshold 128 KiB);
    None off Linux/glibc."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        fn()
        return None
    if not set_mmap_threshold(PROBE_MMAP_BYTES, trim=True):
        fn()
        return None
    try:
        before = _status_kb("VmRSS")
        fn()
        peak = _status_kb("VmHWM")
    finally:
        set_mmap_threshold(TIMED_MMAP_BYTES)
    if before is None or peak is None:
        return None
    return max(peak - before, 0) / 1024.0


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, Timing]:
    """One warm-up call each, one call each under the memory probe (a call's first run holds
    one-off allocations), then ``rounds`` timed calls each, alternating order (mmap threshold
    32 MiB)."""
    for fn in contenders.values():
        fn()
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
    return (
        "peak RSS growth per call (glibc mmap threshold 128 KiB during that probe; "
        "32 MiB for the timed calls)"
    )
