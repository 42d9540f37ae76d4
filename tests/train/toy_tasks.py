"""Tiny tasks for the trainer tests: a masked regression and a two-optimiser GAN.

Axis letters: b batch, n frames, d channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from flowvox.train import OptimizerGroup, StepOutput, TrainData, TrainTask


@dataclass
class ToyDataConfig:
    items: int = 48
    min_frames: int = 3
    max_frames: int = 12
    dim: int = 4
    seed: int = 0


@dataclass
class ToyConfig:
    data: ToyDataConfig = field(default_factory=ToyDataConfig)
    hidden: int = 16
    dropout: float = 0.0  # nn.Dropout: the global torch RNG
    cond_drop: float = 0.0  # per-sample input drop drawn from ctx.generator
    nan_at_step: int | None = None  # this step's loss is NaN ...
    nan_slot: int | None = None  # ... only on micro-batch rank·accum + micro (None: all)
    accum: int = 1  # the run's train.grad_accum_steps, for nan_slot


def toy_items(config: ToyDataConfig) -> list[dict[str, torch.Tensor]]:
    """Items {x (n, d), y (n, d)} with y = tanh(x A) + 0.1 x, lengths in [min, max]."""
    g = torch.Generator().manual_seed(config.seed)
    mix = torch.randn(config.dim, config.dim, generator=g)
    items = []
    for _ in range(config.items):
        n = int(torch.randint(config.min_frames, config.max_frames + 1, (), generator=g))
        x = torch.randn(n, config.dim, generator=g)
        items.append({"x": x, "y": torch.tanh(x @ mix) + 0.1 * x})
    return items


def pad_items(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """x, y (b, n, d) zero-padded; mask (b, n) True on real frames."""
    lengths = torch.tensor([len(item["x"]) for item in items])
    longest, dim = int(lengths.max()), items[0]["x"].shape[1]
    x = torch.zeros(len(items), longest, dim)
    y = torch.zeros(len(items), longest, dim)
    for row, item in enumerate(items):
        x[row, : len(item["x"])] = item["x"]
        y[row, : len(item["y"])] = item["y"]
    mask = torch.arange(longest)[None, :] < lengths[:, None]  # (b, n)
    return {"x": x, "y": y, "mask": mask}


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (pred − target)² over real frames and channels."""
    err = (pred - target).pow(2) * mask[..., None]
    return err.sum() / (mask.sum() * pred.shape[-1])


def _slot(ctx, accum: int) -> int:
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    return rank * accum + ctx.micro_step


class ToyRegressionTask(TrainTask):
    config_class = ToyConfig

    def build_modules(self) -> dict[str, nn.Module]:
        c = self.config
        model = nn.Sequential(
            nn.Linear(c.data.dim, c.hidden),
            nn.SiLU(),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.data.dim),
        )
        return {"model": model}

    def train_data(self) -> TrainData:
        items = toy_items(self.config.data)
        return TrainData(items, [len(item["x"]) for item in items], pad_items)

    def training_step(self, modules, batch, ctx):
        c = self.config
        x = batch["x"]
        if c.cond_drop > 0:
            keep = torch.rand(x.shape[0], generator=ctx.generator) >= c.cond_drop  # (b,)
            x = x * keep.to(x.device)[:, None, None]
        loss = masked_mse(modules["model"](x), batch["y"], batch["mask"])
        if ctx.step == c.nan_at_step and c.nan_slot in (None, _slot(ctx, c.accum)):
            loss = loss * float("nan")
        frames = int(batch["mask"].sum())
        return StepOutput(loss, terms={"mse": loss.detach()}, frames=frames)

    def log_media(self, modules, step, sink):
        weight = modules["model"][0].weight  # EMA copy
        sink.scalar("eval/ema_weight_sum", float(weight.sum()))
        sink.image("eval/weight", weight)
        sink.audio("eval/tone", torch.sin(torch.arange(800) * 0.1), 8000)


@dataclass
class ToyGanConfig:
    data: ToyDataConfig = field(default_factory=ToyDataConfig)
    hidden: int = 16
    generator_lr: float | None = None


class ToyGanTask(TrainTask):
    """Generator x -> y, per-frame discriminator; LSGAN losses plus reconstruction."""

    config_class = ToyGanConfig
    export_module = "generator"

    def build_modules(self) -> dict[str, nn.Module]:
        c = self.config
        d = c.data.dim
        return {
            "generator": nn.Sequential(nn.Linear(d, c.hidden), nn.SiLU(), nn.Linear(c.hidden, d)),
            "discriminator": nn.Sequential(
                nn.Linear(d, c.hidden), nn.LeakyReLU(0.1), nn.Linear(c.hidden, 1)
            ),
        }

    def optimizer_groups(self, modules):
        return [
            OptimizerGroup("discriminator", ("discriminator",)),
            OptimizerGroup("generator", ("generator",), lr=self.config.generator_lr),
        ]

    def train_data(self) -> TrainData:
        items = toy_items(self.config.data)
        return TrainData(items, [len(item["x"]) for item in items], pad_items)

    def training_step(self, modules, batch, ctx):
        mask = batch["mask"]  # (b, n)
        fake = modules["generator"](batch["x"])  # (b, n, d)
        real_score = modules["discriminator"](batch["y"])[..., 0]  # (b, n)
        fake_score = modules["discriminator"](fake.detach())[..., 0]  # (b, n)
        frames = mask.sum()
        d_loss = (((real_score - 1) ** 2 + fake_score**2) * mask).sum() / frames
        yield StepOutput(d_loss, "discriminator", terms={"d": d_loss.detach()})
        adv = (((modules["discriminator"](fake)[..., 0] - 1) ** 2) * mask).sum() / frames
        recon = masked_mse(fake, batch["y"], mask)
        terms = {"adv": adv.detach(), "recon": recon.detach()}
        yield StepOutput(adv + recon, "generator", terms=terms, frames=int(frames))


REGRESSION = "tests.train.toy_tasks:ToyRegressionTask"
GAN = "tests.train.toy_tasks:ToyGanTask"

# 48 items of 3–12 frames under a 40-frame budget: about 13 batches an epoch
BASE_TRAIN = {
    "max_steps": 20,
    "checkpoint_every": 10,
    "max_frames": 40,
    "lr": 1e-2,
    "warmup_steps": 3,
    "ema_decay": 0.9,
    "log_every": 5,
    "progress_bar": False,
    "tensorboard": False,
    "device": "cpu",
}


def run_dict(out_dir, task: str = REGRESSION, train: dict | None = None, **task_keys) -> dict:
    """The mapping of a run file for ``task``: ``BASE_TRAIN`` updated by ``train``."""
    return {
        "task": task,
        "out_dir": str(out_dir),
        "train": {**BASE_TRAIN, **(train or {})},
        **task_keys,
    }
