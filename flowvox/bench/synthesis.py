"""Synthesis speed across NFE: RTF one line at a time, bulk throughput, memory and MFU.

For each NFE the same lines are spoken twice, in interleaved rounds (so a change of machine
load hits both passes alike):

- one at a time: ``Synthesizer.speak`` per line (batch 1);
- bulk: ``generate_bulk`` over the lines (frame-budget batches, wavs and manifest written,
  as ``flowvox generate`` does).

Rates are audio seconds per wall-clock second. The model FLOPs of the one-at-a-time pass are
counted in one more, untimed replay (same seeds, so the same lengths); since both passes make
the same audio, FLOPs per audio second is shared and

    MFU = (FLOPs / audio second) · (audio seconds / s) / measured matmul peak.

1 / MFU(batch 1) bounds what batching can buy: bulk cannot beat the machine's peak.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from flowvox.bench.flops import FlopCount
from flowvox.bench.memory import PeakMemory
from flowvox.infer import SynthesisOptions, Synthesizer
from flowvox.infer.bulk import generate_bulk


@dataclass
class SynthesisRow:
    """Both passes at one NFE. Seconds are wall clock; memory in bytes added by the pass."""

    nfe: int
    cfg: float
    lines: int
    single_audio: float
    single_seconds: float
    bulk_audio: float
    bulk_seconds: float
    bulk_batches: int
    batch_frames: int
    flops: int  # model FLOPs of the one-at-a-time pass (0: not counted)
    single_memory: int
    bulk_memory: int

    @property
    def rtf(self) -> float:
        """Batch-1 real-time factor: compute seconds per audio second."""
        return self.single_seconds / self.single_audio

    @property
    def single_rate(self) -> float:
        return self.single_audio / self.single_seconds

    @property
    def bulk_rate(self) -> float:
        return self.bulk_audio / self.bulk_seconds

    @property
    def ratio(self) -> float:
        return self.bulk_rate / self.single_rate

    def mfu(self, peak_flops: float, bulk: bool = False) -> float:
        """Share of the measured matmul peak the pass used (0 when FLOPs were not counted)."""
        per_audio_second = self.flops / self.single_audio
        return per_audio_second * (self.bulk_rate if bulk else self.single_rate) / peak_flops


def measure_synthesis(
    synth: Synthesizer,
    lines: list[str],
    ref_audio: Path,
    ref_text: str,
    nfes: list[int],
    cfg: float,
    batch_frames: int,
    work_dir: Path,
    rounds: int = 2,
    count_flops: bool = True,
    device: str = "cpu",
    progress=None,
    precision: str = "fp32",
) -> list[SynthesisRow]:
    """One ``SynthesisRow`` per NFE (see the module docstring). ``progress(message)`` is
    called as passes finish."""
    rows = []
    rounds = max(1, min(rounds, len(lines)))
    for nfe in nfes:
        opts = SynthesisOptions(nfe=nfe, cfg=cfg, seed=0, precision=precision)
        synth.speak(lines[0], ref_audio, ref_text, opts.replace(nfe=1))  # warm-up
        totals = dict(sa=0.0, ss=0.0, ba=0.0, bs=0.0, batches=0, sm=0, bm=0)
        for r in range(rounds):
            share = lines[r::rounds]
            with PeakMemory(device) as memory:
                start = time.perf_counter()
                for i, line in enumerate(share):
                    totals["sa"] += synth.speak(
                        line, ref_audio, ref_text, opts.replace(seed=r + rounds * i)
                    ).duration
                totals["ss"] += time.perf_counter() - start
            totals["sm"] = max(totals["sm"], memory.added)
            source = work_dir / f"lines-{nfe}-{r}.txt"
            source.write_text("\n".join(share) + "\n", encoding="utf-8")
            out = work_dir / f"bulk-{nfe}-{r}"
            with PeakMemory(device) as memory:
                start = time.perf_counter()
                report = generate_bulk(
                    synth, source, out, opts, batch_frames=batch_frames, progress=False,
                    ref_audio=ref_audio, ref_text=ref_text,
                )  # fmt: skip
                totals["bs"] += time.perf_counter() - start
            totals["bm"] = max(totals["bm"], memory.added)
            totals["ba"] += report.audio_seconds
            totals["batches"] += report.batches
            shutil.rmtree(out, ignore_errors=True)
        flops = 0
        if count_flops:
            with FlopCount() as count:
                for r in range(rounds):
                    for i, line in enumerate(lines[r::rounds]):
                        synth.speak(line, ref_audio, ref_text, opts.replace(seed=r + rounds * i))
            flops = count.total
        row = SynthesisRow(
            nfe, cfg, len(lines), totals["sa"], totals["ss"], totals["ba"], totals["bs"],
            totals["batches"], batch_frames, flops, totals["sm"], totals["bm"],
        )  # fmt: skip
        rows.append(row)
        if progress is not None:
            progress(f"NFE {nfe}: RTF {row.rtf:.3f}, bulk/one-at-a-time {row.ratio:.2f}x")
    return rows
