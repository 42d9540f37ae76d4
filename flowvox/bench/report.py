"""The markdown a ``flowvox bench`` run writes: conditions first, then the tables."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from flowvox.bench.flops import MatmulPeak
from flowvox.bench.synthesis import SynthesisRow
from flowvox.bench.training import TrainingRow


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def hardware_lines(device: str = "cpu") -> list[str]:
    """Markdown bullets naming the machine, torch, threads and the load at this moment."""
    try:
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        load = "unknown"
    lines = [
        f"- CPU: {cpu_name()}, {os.cpu_count()} cores ({platform.machine()}); "
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads",
        f"- Machine load (uptime): `{load}`",
    ]
    if device.startswith("cuda") and torch.cuda.is_available():
        lines.insert(1, f"- GPU: {torch.cuda.get_device_name(device)}")
    return lines


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f}"


def synthesis_table(rows: list[SynthesisRow], peak: MatmulPeak) -> list[str]:
    out = [
        "| NFE | CFG | lines | RTF batch 1 | one-at-a-time audio-s/s | bulk audio-s/s | "
        "bulk / one-at-a-time | MFU batch 1 | MFU bulk | ceiling 1/MFU | GFLOP per audio s | "
        "bulk batches | memory MiB (1 / bulk) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.flops > 0:
            mfu1, mfub = r.mfu(peak.flops_per_s), r.mfu(peak.flops_per_s, bulk=True)
            counted = (
                f"{100 * mfu1:.0f} % | {100 * mfub:.0f} % | {1 / mfu1:.1f}x "
                f"| {r.flops / r.single_audio / 1e9:.2f}"
            )
        else:
            counted = "– | – | – | –"  # FLOPs not counted (--no-mfu)
        out.append(
            f"| {r.nfe} | {r.cfg:g} | {r.lines} | {r.rtf:.3f} | {r.single_rate:.2f} "
            f"| {r.bulk_rate:.2f} | {r.ratio:.2f}x | {counted} | {r.bulk_batches} "
            f"| {_mib(r.single_memory)} / {_mib(r.bulk_memory)} |"
        )
    return out


def training_table(rows: list[TrainingRow], peak: MatmulPeak) -> list[str]:
    out = [
        "| batch × frames | parameters | step s | frames/s | GFLOP per step | MFU | memory MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.batch} × {r.frames} | {r.parameters / 1e6:.2f} M | {r.step_seconds:.3f} "
            f"| {r.frames_per_s:.0f} | {r.flops / 1e9:.2f} | {100 * r.mfu(peak.flops_per_s):.0f} % "
            f"| {_mib(r.memory)} |"
        )
    return out


def render(
    title: str,
    conditions: list[str],
    peak: MatmulPeak,
    synthesis: list[SynthesisRow],
    training: list[TrainingRow],
    device: str,
) -> str:
    lines = [f"# {title}", "", *hardware_lines(device), *conditions]
    lines.append(f"- Matmul peak measured in this run: {peak.describe()}")
    if synthesis:
        lines += ["", "## Synthesis", "", *synthesis_table(synthesis, peak)]
        lines += [
            "",
            "MFU counts matmul, convolution and attention FLOPs (torch FlopCounterMode plus the "
            "CPU attention and oneDNN linear kernels) against the matmul peak above. "
            "Batching cannot lift throughput past the peak, so 1/MFU(batch 1) is the most "
            "bulk generation can gain over one line at a time on this machine.",
        ]
    if training:
        lines += ["", "## Training step", "", *training_table(training, peak)]
    return "\n".join(lines) + "\n"
