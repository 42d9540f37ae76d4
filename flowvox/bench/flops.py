"""Model FLOPs of a piece of work, and this machine's matmul throughput, for MFU.

MFU (model FLOPs utilisation) = FLOPs the model's maths needs / seconds it took / the
machine's peak. The peak is *measured* here (best square-matmul rate at the thread count in
use), not taken from a datasheet, so MFU reads "share of what a large GEMM reaches".

Counting uses ``torch.utils.flop_counter.FlopCounterMode`` (matmul, linear, conv, backward
included) with formulas added for two kernels it does not count:

- ``aten._scaled_dot_product_flash_attention_for_cpu``: 2·b·h·L·S·(E + Eᵥ) (QKᵀ and AV);
- ``mkldnn._linear_pointwise`` (flowvox.nn.fused_linear): 2·(out elements)·(in features).

Element-wise work (norms, activations, FFTs of Griffin-Lim) is not counted, as in MFU
practice: the figure is a lower bound of the arithmetic done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode


def _sdpa_cpu_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """Shapes (b, h, L, E) queries, (b, h, S, E) keys, (b, h, S, Eᵥ) values."""
    b, h, length, e = query
    return 2 * b * h * length * key[-2] * (e + value[-1])


def _fused_linear_flops(x, *args, out_shape=None, **kwargs) -> int:
    """Shapes (…, i) input, (…, o) output: 2·(output elements)·i."""
    return 2 * math.prod(out_shape) * int(x[-1])


def _custom_mapping() -> dict:
    """Formulas (called with shapes) for the kernels FlopCounterMode does not count."""
    mapping = {}
    aten = torch.ops.aten
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_cpu_flops
    mkldnn = getattr(torch.ops, "mkldnn", None)
    if mkldnn is not None and hasattr(mkldnn, "_linear_pointwise"):
        mapping[mkldnn._linear_pointwise] = _fused_linear_flops
    return mapping


class FlopCount:
    """Context manager counting the model FLOPs of everything run inside it::

    with FlopCount() as count:
        model(x)
    count.total  # int
    """

    def __init__(self) -> None:
        self._mode = FlopCounterMode(display=False, custom_mapping=_custom_mapping())
        self.total = 0

    def __enter__(self) -> FlopCount:
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        self.total = int(self._mode.get_total_flops())


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (its result is dropped)."""
    with FlopCount() as count:
        fn()
    return count.total


@dataclass(frozen=True)
class MatmulPeak:
    """Best measured square-matmul rate: ``flops_per_s`` at size ``n``, ``dtype``, threads."""

    flops_per_s: float
    n: int
    dtype: torch.dtype
    threads: int
    device: str

    def describe(self) -> str:
        kind = str(self.dtype).replace("torch.", "")
        return (
            f"{self.flops_per_s / 1e9:.1f} GFLOP/s ({kind} {self.n}×{self.n} matmul, best of "
            f"repeats, {self.threads} thread(s), {self.device})"
        )


def measure_matmul_peak(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    sizes: tuple[int, ...] = (512, 1024, 2048),
    seconds: float = 0.6,
) -> MatmulPeak:
    """The best rate of ``a @ b`` (n × n) over ``sizes``, each timed for about ``seconds``.

    One n×n product is 2n³ FLOPs. Several sizes are tried because the fastest size depends
    on cache sizes and thread count; the best one is the peak a model could hope for.
    """
    device = torch.device(device)
    best = MatmulPeak(0.0, 0, dtype, torch.get_num_threads(), str(device))
    for n in sizes:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        out = torch.empty(n, n, device=device, dtype=dtype)
        torch.mm(a, b, out=out)  # warm-up (and kernel selection)
        _sync(device)
        reps, elapsed = 0, 0.0
        start = time.perf_counter()
        while elapsed < seconds:
            torch.mm(a, b, out=out)
            reps += 1
            if reps % 4 == 0 or device.type == "cpu":
                _sync(device)
                elapsed = time.perf_counter() - start
        _sync(device)
        rate = 2 * n**3 * reps / (time.perf_counter() - start)
        if rate > best.flops_per_s:
            best = MatmulPeak(rate, n, dtype, torch.get_num_threads(), str(device))
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
