"""The shared trainer: any model family's ``TrainTask`` on one process, DDP or FSDP."""

from flowvox.train.checkpoint import export_checkpoint, list_checkpoints
from flowvox.train.config import (
    RunConfig,
    TrainConfig,
    load_run_config,
    run_config_from_dict,
    run_config_to_dict,
)
from flowvox.train.ema import EMA
from flowvox.train.registry import TASKS, resolve_task
from flowvox.train.schedule import lr_factor
from flowvox.train.task import (
    MediaSink,
    OptimizerGroup,
    StepContext,
    StepOutput,
    TrainData,
    TrainTask,
)
from flowvox.train.trainer import Trainer, TrainResult, train_from_config

__all__ = [
    "EMA",
    "MediaSink",
    "OptimizerGroup",
    "RunConfig",
    "StepContext",
    "StepOutput",
    "TASKS",
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "TrainTask",
    "Trainer",
    "export_checkpoint",
    "list_checkpoints",
    "load_run_config",
    "lr_factor",
    "resolve_task",
    "run_config_from_dict",
    "run_config_to_dict",
    "train_from_config",
]
