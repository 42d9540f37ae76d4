"""Peak memory of a phase: resident set size sampled by a thread on CPU, the allocator's
peak on CUDA.

RSS is read from ``/proc/self/statm`` every few milliseconds while the phase runs; the
figure reported is the peak minus the RSS when the phase began (what the phase added),
beside the absolute peak. On CUDA, ``torch.cuda.max_memory_allocated`` after a reset.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size of this process (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


@dataclass
class PeakMemory:
    """``with PeakMemory(device) as mem: ...`` then ``mem.added`` and ``mem.peak`` (bytes)."""

    device: str = "cpu"
    interval: float = 0.005
    start: int = 0
    peak: int = 0

    @property
    def added(self) -> int:
        return max(0, self.peak - self.start)

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = self.peak = torch.cuda.memory_allocated()
            return self
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
