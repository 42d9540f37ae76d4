"""Training speed of a model: step time, frames/s, peak memory and MFU on a fixed batch.

# b: batch, n: mel frames, f: mel bins, l: text tokens
One step = the family's training loss on a random (b, n) batch (text of n / 6 tokens, about
the corpus's characters per frame), backward, gradient clipping and an AdamW update: what
``flowvox train`` does per optimizer step, without data loading. With precision "bf16" the
loss is computed under bfloat16 autocast, as ``train.mixed_precision: bf16`` does (weights,
gradients and the optimizer stay float32). The model FLOPs of one step
(forward and backward) are counted once; MFU = FLOPs / step seconds / matmul peak.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from flowvox.bench.flops import FlopCount
from flowvox.bench.memory import PeakMemory
from flowvox.models.aligned.model import AlignedTTS


@dataclass
class TrainingRow:
    batch: int
    frames: int  # per item
    step_seconds: float  # median over the timed steps
    flops: int  # one step, forward + backward
    memory: int  # bytes the steps added, optimizer state included (peak RSS or CUDA peak)
    parameters: int

    @property
    def frames_per_s(self) -> float:
        return self.batch * self.frames / self.step_seconds

    def mfu(self, peak_flops: float) -> float:
        return self.flops / self.step_seconds / peak_flops


def _loss_fn(model: nn.Module, batch: int, frames: int, device: str):
    """A closure computing the family's training loss on one fixed random batch."""

    gen = torch.Generator().manual_seed(0)
    config = model.config
    mel = torch.randn(batch, frames, config.mel.n_mels, generator=gen).to(device)  # (b, n, f)
    mel_lengths = torch.full((batch,), frames, dtype=torch.long, device=device)
    tokens = max(2, frames // 6)
    ids = torch.randint(1, config.text_vocab_size, (batch, tokens), generator=gen).to(device)
    draw_gen = torch.Generator(device=device).manual_seed(0)
    if isinstance(model, AlignedTTS):
        lengths = torch.full((batch,), tokens, dtype=torch.long, device=device)
        return lambda: model.loss(mel, mel_lengths, ids, lengths, draw_gen).loss
    return lambda: model.loss(mel, mel_lengths, ids, draw_gen).loss


def measure_training(
    model: nn.Module,
    batch: int,
    frames: int,
    steps: int = 5,
    device: str = "cpu",
    precision: str = "fp32",
) -> TrainingRow:
    """Time ``steps`` optimizer steps (after one warm-up step) of ``model`` in train mode;
    ``precision`` "bf16" autocasts the loss (forward) to bfloat16."""
    model = model.to(device).train()
    compute_loss = _loss_fn(model, batch, frames, device)
    device_type = torch.device(device).type

    def loss_fn() -> torch.Tensor:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            return compute_loss()

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    times = []
    with PeakMemory(device) as memory:  # from the first step: activations + optimizer state
        step()  # warm-up (not timed)
        for _ in range(steps):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    with FlopCount() as count:
        optimizer.zero_grad(set_to_none=True)
        loss_fn().backward()
    parameters = sum(p.numel() for p in model.parameters())
    return TrainingRow(
        batch, frames, statistics.median(times), count.total, memory.added, parameters
    )
