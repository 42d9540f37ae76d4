"""Training logs: TensorBoard scalars and media, a tqdm bar with ETA, window averages.

Scalars written every ``log_every`` steps (means over the steps since the last write):
``loss/<group>`` and ``loss/<term>`` (this process's batches, main process),
``train/lr/<group>``, ``train/grad_norm/<group>`` (before clipping),
``train/frames_per_s`` (all processes), ``train/skipped/<group>`` (cumulative count of
updates skipped for a NaN/inf loss or gradient norm).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm.auto import tqdm


class TensorBoardSink:
    """``MediaSink`` writing into a TensorBoard ``SummaryWriter`` at one step."""

    def __init__(self, writer, step: int):
        self.writer, self.step = writer, step

    def scalar(self, tag: str, value: float) -> None:
        self.writer.add_scalar(tag, float(value), self.step)

    def image(self, tag: str, image: torch.Tensor) -> None:
        """``image`` (h, w): min-max scaled to [0, 1], row 0 drawn at the bottom."""
        img = image.detach().float().cpu()
        img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-8)
        self.writer.add_image(tag, img.flip(0)[None], self.step, dataformats="CHW")  # (1, h, w)

    def audio(self, tag: str, wav: torch.Tensor, sample_rate: int) -> None:
        """``wav`` (s,), clipped to [-1, 1]."""
        clip = wav.detach().float().cpu().clamp(-1.0, 1.0)
        self.writer.add_audio(tag, clip[None], self.step, sample_rate=sample_rate)  # (1, s)


class TrainLogger:
    """Accumulates per-step figures; ``flush_window`` turns them into means and writes them."""

    def __init__(self, log_dir: Path | None, start_step: int, stop_step: int, bar: bool):
        self.writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(log_dir))
        self.bar = tqdm(
            total=stop_step, initial=start_step, disable=not bar, desc="train", unit="step"
        )
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.frames = 0
        self.window_start = time.perf_counter()
        self.last: dict[str, float] = {}  # means of the last written window

    def add(self, name: str, value: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(value)
        self.counts[name] = self.counts.get(name, 0) + 1

    def add_frames(self, frames: int) -> None:
        self.frames += int(frames)

    def window_frames(self) -> int:
        return self.frames

    def flush_window(self, step: int, global_frames: int, extra: dict[str, float]) -> None:
        """Write the window's means, ``frames_per_s`` and ``extra`` scalars at ``step``."""
        elapsed = max(time.perf_counter() - self.window_start, 1e-9)
        means = {name: self.sums[name] / self.counts[name] for name in self.sums}
        means["train/frames_per_s"] = global_frames / elapsed
        means.update(extra)
        if self.writer is not None:
            for name, value in means.items():
                self.writer.add_scalar(name, value, step)
        self.last = means
        self.sums, self.counts, self.frames = {}, {}, 0
        self.window_start = time.perf_counter()
        shown = {k.split("/", 1)[1]: f"{v:.4g}" for k, v in means.items() if k.startswith("loss/")}
        self.bar.set_postfix(shown, refresh=False)

    def media_sink(self, step: int) -> TensorBoardSink | None:
        return None if self.writer is None else TensorBoardSink(self.writer, step)

    def note(self, text: str) -> None:
        """A line above the progress bar."""
        self.bar.write(text)

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
