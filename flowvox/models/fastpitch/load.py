"""Reading a FastPitch model folder (family "fastpitch"): ``load_fastpitch_model``."""

from __future__ import annotations

import os

import torch

from flowvox.models.fastpitch.config import FastPitchConfig
from flowvox.models.fastpitch.model import FastPitch
from flowvox.models.loading import LoadedModel, load_model_dir

LoadedFastPitch = LoadedModel[FastPitchConfig, FastPitch]


def load_fastpitch_model(
    directory: str | os.PathLike, device: str | torch.device = "cpu"
) -> LoadedFastPitch:
    """Model (eval mode, on ``device``), config and tokenizer of a FastPitch model folder
    (``flowvox.models.loading``)."""
    return load_model_dir(directory, FastPitch, device)
