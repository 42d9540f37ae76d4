"""The contract between a model family and the shared trainer: ``TrainTask``.

The trainer owns everything generic (devices, DDP/FSDP, optimisers, schedules, EMA,
checkpoints, logging); a task owns what is specific to a model family:

1. ``config_class`` — a dataclass; its fields are the run file's top-level sections
   besides ``task``, ``out_dir`` and ``train``. The task is built as ``Task(config)``.
2. ``build_modules()`` -> ``{name: nn.Module}`` on CPU, freshly initialised (the trainer
   seeds every process alike first, so initial weights agree across processes).
3. ``optimizer_groups(modules)`` -> named ``OptimizerGroup``s, each an AdamW over some
   modules. Default: one group ``"main"`` over every module with trainable parameters.
4. ``train_data()`` -> ``TrainData(dataset, lengths, collate)``; the trainer batches it
   with ``FrameBudgetBatchSampler`` over ``lengths`` and moves the collated batch to the
   device (tensors, dataclasses/objects with ``.to(device)``, lists and dicts).
5. ``training_step(modules, batch, ctx)`` returns one ``StepOutput`` or *yields* several,
   in order, one per optimiser group. After each yield the trainer backpropagates that
   loss (all gradients are zeroed first), clips the group's gradients and steps its
   optimiser, then resumes the task code — so values computed before a yield (e.g. the
   generator's output) are reused after it, and a later loss sees the earlier update.
   ``modules`` are the wrapped (DDP/FSDP, mixed precision) modules: call them, not your
   own references. Draw randomness from ``ctx.generator`` (CPU) or ``ctx.device_generator``
   so that a resumed run repeats it exactly.
6. ``export_module`` names the module whose EMA weights are exported (``model.safetensors``
   + ``config.json``); ``export_state_dict`` may rename or filter its tensors and
   ``export_files`` may add files (a vocab) and ``export_config`` may reshape the run dict
   written as ``config.json`` (a vocoder writes its loader's format); ``checkpoint_files``
   may add files to each checkpoint folder. ``log_media`` gets
   that EMA module every ``train.media_every`` steps (main process, no grad, its own RNG
   fork) to write mel images, audio and evaluation scalars through a ``MediaSink``.

A loss that is NaN/inf on any process, or a non-finite gradient norm, skips that group's
update everywhere (weights, optimiser, EMA untouched); it is counted and logged.

Minimal single-optimiser task::

    @dataclass
    class ToyConfig:
        dim: int = 4

    class ToyTask(TrainTask):
        config_class = ToyConfig

        def build_modules(self):
            return {"model": nn.Linear(self.config.dim, self.config.dim)}

        def train_data(self):
            items = [torch.randn(n, self.config.dim) for n in range(3, 40)]
            return TrainData(items, [len(x) for x in items], pad_sequences)

        def training_step(self, modules, batch, ctx):
            loss = (modules["model"](batch) - batch).pow(2).mean()
            return StepOutput(loss, frames=batch.shape[0] * batch.shape[1])

A GAN (vocoder) task declares two groups and yields the discriminator loss, then the
generator loss::

    def optimizer_groups(self, modules):
        return [OptimizerGroup("discriminator", ("mpd", "mrd")),
                OptimizerGroup("generator", ("generator",))]

    def training_step(self, modules, batch, ctx):
        fake = modules["generator"](batch.mel)                              # (b, s)
        yield StepOutput(d_loss(modules, batch.wav, fake.detach()), "discriminator")
        yield StepOutput(g_loss(modules, batch.wav, fake), "generator", frames=...)

Axis letters in examples: b batch, n frames, s samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import nn


@dataclass
class StepOutput:
    """One loss of a training step, for one optimiser group."""

    loss: torch.Tensor  # () scalar to backpropagate
    group: str = "main"  # the OptimizerGroup that steps on this loss
    terms: dict[str, torch.Tensor | float] = field(default_factory=dict)  # logged as loss/NAME
    frames: int = 0  # real frames in the micro-batch (for frames/s; the max over outputs counts)


@dataclass(frozen=True)
class OptimizerGroup:
    """An AdamW over the parameters of ``modules``; None options take the train.* value."""

    name: str
    modules: tuple[str, ...]
    lr: float | None = None
    betas: tuple[float, float] | None = None
    weight_decay: float | None = None


@dataclass
class TrainData:
    """A map-style dataset, the frame length of each item, and the function batching items."""

    dataset: Any  # supports len() and [index]
    lengths: Sequence[int]
    collate: Callable[[list[Any]], Any]


@dataclass
class StepContext:
    """What a training step may use besides modules and batch."""

    step: int  # the optimiser step being computed, from 0
    micro_step: int  # which micro-batch of train.grad_accum_steps, from 0
    device: torch.device
    generator: torch.Generator  # CPU, per process, saved in checkpoints
    device_generator: torch.Generator  # on ``device`` (the same object on CPU)


class MediaSink(Protocol):
    """Where ``TrainTask.log_media`` writes (TensorBoard in the trainer)."""

    def scalar(self, tag: str, value: float) -> None: ...

    def image(self, tag: str, image: torch.Tensor) -> None:
        """``image`` (h, w), any range: scaled to [0, 1], row 0 drawn at the bottom."""

    def audio(self, tag: str, wav: torch.Tensor, sample_rate: int) -> None:
        """``wav`` (s,) in [-1, 1]."""


class TrainTask:
    """Base class of a model family's training recipe (see the module docstring)."""

    config_class: ClassVar[type]
    export_module: ClassVar[str] = "model"

    def __init__(self, config: Any):
        self.config = config

    def build_modules(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def optimizer_groups(self, modules: Mapping[str, nn.Module]) -> list[OptimizerGroup]:
        trainable = tuple(n for n, m in modules.items() if has_trainable_parameters(m))
        return [OptimizerGroup("main", trainable)]

    def train_data(self) -> TrainData:
        raise NotImplementedError

    def training_step(
        self, modules: Mapping[str, nn.Module], batch: Any, ctx: StepContext
    ) -> StepOutput | Iterator[StepOutput]:
        raise NotImplementedError

    def log_media(self, modules: Mapping[str, nn.Module], step: int, sink: MediaSink) -> None:
        """Optional: samples and evaluation figures from ``modules[export_module]`` (EMA)."""

    def export_state_dict(self, ema_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The tensors of the exported ``model.safetensors`` (default: the EMA state as is)."""
        return ema_state

    def export_files(self, out_dir: Path) -> None:
        """Optional: extra files of the exported model directory (e.g. ``vocab.txt``)."""

    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The exported ``config.json`` (default: the resolved run file as a dict)."""
        return run_dict

    def checkpoint_files(self, folder: Path) -> None:
        """Optional: extra files of each checkpoint folder (e.g. the run's ``vocab.txt``)."""


def has_trainable_parameters(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())
