"""Speed of batched monotonic alignment search, beside the plain per-item Python loops.

    python -m benchmarks.mas_speed   # prints, and writes benchmarks/results/mas_speed.md

Batch b = 16, l = 100 tokens, n = 800 frames (≈ 9 s of 24 kHz / hop 256 audio), random
Gaussian log-likelihoods, full lengths. ``flowvox.nn.mas`` runs the whole batch (median of 5
runs after one warm-up); the reference is Glow-TTS's double loop in Python/numpy over cells
(the algorithm Matcha ships compiled in Cython), run once per item. Both are checked to give
the same paths. A GPU row is added when CUDA is available.
"""
# b: batch, l: tokens, n: frames

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from flowvox.nn.mas import monotonic_alignment_search

RESULTS = Path(__file__).parent / "results" / "mas_speed.md"
B, L, N = 16, 100, 800


def cpu_name() -> str:
    """Model name from /proc/cpuinfo where there is one, else the platform's word."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def reference_path(log_p: np.ndarray) -> np.ndarray:
    """Glow-TTS's loops for one item (L, N) -> 0/1 path; ties stay (as tests/nn/test_mas.py)."""
    n_tok, n_fr = log_p.shape
    q = np.full((n_tok, n_fr), -np.inf, dtype=log_p.dtype)
    q[0, 0] = log_p[0, 0]
    for j in range(1, n_fr):
        for i in range(min(n_tok, j + 1)):
            came_from = q[i - 1, j - 1] if i > 0 else -np.inf
            q[i, j] = log_p[i, j] + max(q[i, j - 1], came_from)
    path = np.zeros((n_tok, n_fr), dtype=np.int64)
    i = n_tok - 1
    for j in range(n_fr - 1, -1, -1):
        path[i, j] = 1
        if i > 0 and (i == j or q[i, j - 1] < q[i - 1, j - 1]):
            i -= 1
    return path


def time_batched(log_p: torch.Tensor, repeats: int = 5) -> float:
    """Median seconds of one batched search of log_p (b, l, n)."""
    sync = torch.cuda.synchronize if log_p.is_cuda else (lambda: None)
    monotonic_alignment_search(log_p)
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        monotonic_alignment_search(log_p)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    g = torch.Generator().manual_seed(0)
    log_p = torch.randn(B, L, N, generator=g)  # (b, l, n) float32
    rows = [
        "| implementation | device | threads | dtype | seconds per batch |",
        "|---|---|---|---|---|",
    ]
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for dtype in (torch.float32, torch.float64):
            seconds = time_batched(log_p.to(dtype))
            rows.append(f"| flowvox batched | cpu | {threads} | {dtype} | {seconds:.4f} |")
    torch.set_num_threads(1)
    batched = time_batched(log_p)
    if torch.cuda.is_available():
        seconds = time_batched(log_p.cuda())
        name = torch.cuda.get_device_name()
        rows.append(f"| flowvox batched | {name} | - | torch.float32 | {seconds:.4f} |")

    path = monotonic_alignment_search(log_p).path.numpy()
    start = time.perf_counter()
    mismatched = 0
    for k in range(B):
        mismatched += int((reference_path(log_p[k].numpy()) != path[k]).sum())
    loops = time.perf_counter() - start
    rows.append(f"| Python loops, item by item | cpu | 1 | float32 (numpy) | {loops:.4f} |")

    lines = [
        "# Monotonic alignment search speed",
        "",
        f"Machine: {platform.machine()}, {cpu_name()}, "
        f"{torch.get_num_threads()} threads used / {default_threads} default, torch "
        f"{torch.__version__}. Batch {B}, {L} tokens, {N} frames, full lengths, random N(0, 1) "
        "log-likelihoods. Produced by `python -m benchmarks.mas_speed`. The machine may be "
        "shared with other jobs: compare rows of one run.",
        "",
        *rows,
        "",
        f"Side by side (1 thread, float32): batched {batched:.4f} s vs loops {loops:.2f} s, "
        f"×{loops / batched:.0f}. Cells where the paths differ: {mismatched} of {B * L * N}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    assert mismatched == 0 and np.isfinite(batched)


if __name__ == "__main__":
    main()
