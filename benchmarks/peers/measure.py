"""Timing and memory helpers for side-by-side peer benchmarks (one process, CPU).

Time and memory are measured in two runs of the same script, because what makes the memory
figure fair slows the timed code down:

- Memory pass (``MALLOC_MMAP_THRESHOLD_`` set in the environment, as run_all.sh does for it):
  every tensor over the threshold is its own mapping from the process's start, returned on
  free, so one contender's freed memory cannot hide the other's. Each contender runs once to
  warm up, then once under the probe: growth of the resident set during the call, from the
  kernel's high-water mark (``/proc/self/clear_refs`` ← 5 resets VmHWM to the current VmRSS;
  peak = VmHWM after the call − VmRSS before it). No timed rounds.
- Timing pass (variable unset: glibc's own dynamic threshold): each contender runs once to
  warm up, then ``rounds`` times, interleaved (the order alternates every round so neither
  always runs second); the median wall time is reported. With a 128 KiB threshold every
  activation is mapped and faulted in afresh, which slowed bf16 sampling by a third and fp32
  by 6 % in a test. The memory pass's figures are merged in (``save_peaks``/``merge_peaks``).

Probing inside the timing process (lowering the threshold with ``mallopt`` and trimming the
heap) was tried and dropped: a heap built at the dynamic threshold is reused by the probe, and
its fragmentation, not the tensors, set the figure (up to 2× the live bytes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
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


def memory_pass() -> bool:
    """True in the memory pass (the glibc mmap threshold fixed from the environment)."""
    return MMAP_ENV in os.environ


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


def interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int, device: str = "cpu"
) -> dict[str, Timing]:
    """Memory pass: a warm-up call, then one probed call each (median NaN). Timing pass: a
    warm-up call each, then ``rounds`` timed calls each in alternating order (peak None).
    On CUDA one pass does both: every call is synchronised, and the peak is the growth of
    ``torch.cuda.max_memory_allocated`` over the warm-up call."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        peaks = {name: peak_cuda_mb(fn) for name, fn in contenders.items()}  # the warm-up
    else:
        for fn in contenders.values():
            fn()
        if memory_pass():
            return {
                name: Timing(math.nan, (), peak_rss_growth_mb(fn))
                for name, fn in contenders.items()
            }
        peaks = dict.fromkeys(contenders)
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            contenders[name]()
            if cuda:
                torch.cuda.synchronize()
            runs[name].append(time.perf_counter() - start)
    return {
        name: Timing(statistics.median(runs[name]), tuple(runs[name]), peaks[name])
        for name in contenders
    }


def peak_cuda_mb(fn: Callable[[], object]) -> float:
    """MiB of CUDA memory allocated at most during ``fn()`` beyond what was allocated before."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def _peaks(tree):
    """The ``peak_mb`` of every Timing in a nested dict, in the same nesting."""
    if isinstance(tree, Timing):
        return tree.peak_mb
    if isinstance(tree, dict):
        found = {key: _peaks(value) for key, value in tree.items()}
        return {key: value for key, value in found.items() if value is not _NONE}
    return _NONE


_NONE = object()


def save_peaks(results: dict, path: Path) -> None:
    """Write the memory pass's peaks (every Timing in ``results``) as JSON."""
    path.write_text(json.dumps(_peaks(results), indent=1), encoding="utf-8")


def merge_peaks(results: dict, path: Path) -> dict:
    """``results`` with each Timing's ``peak_mb`` taken from ``save_peaks``' file."""

    def merge(tree, peaks):
        if isinstance(tree, Timing):
            return dataclasses.replace(tree, peak_mb=peaks if isinstance(peaks, float) else None)
        if isinstance(tree, dict):
            peaks = peaks if isinstance(peaks, dict) else {}
            return {key: merge(value, peaks.get(key)) for key, value in tree.items()}
        return tree

    return merge(results, json.loads(path.read_text(encoding="utf-8")))


def add_memory_json_option(parser: argparse.ArgumentParser) -> None:
    """``--memory-json PATH``: where the memory pass leaves its peaks for the timing pass."""
    parser.add_argument(
        "--memory-json",
        type=Path,
        default=None,
        help="memory pass (MALLOC_MMAP_THRESHOLD_ set): write the peaks here and no report; "
        "timing pass: merge the peaks from here into the report",
    )


def exchange_peaks(timings: dict, path: Path | None) -> dict:
    """Memory pass: save the peaks of ``timings`` to ``path``. Timing pass: ``timings`` with
    the peaks from ``path`` merged in (unchanged when there is no such file)."""
    if memory_pass():
        if path is not None:
            save_peaks(timings, path)
        return timings
    if path is not None and path.is_file():
        return merge_peaks(timings, path)
    return timings


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
        f"peak RSS growth of one warmed-up call, MiB, from a separate run with {MMAP_ENV} "
        "fixed (benchmarks/peers/run_all.sh, measure.py)"
    )
