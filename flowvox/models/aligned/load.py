"""Reading an aligned TTS model folder (family "aligned"): ``load_aligned_model``."""

from __future__ import annotations

import os

import torch

from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.loading import LoadedModel, load_model_dir

LoadedAlignedModel = LoadedModel[AlignedTTSConfig, AlignedTTS]


def load_aligned_model(
    directory: str | os.PathLike, device: str | torch.device = "cpu"
) -> LoadedAlignedModel:
    """Model (eval mode, on ``device``), config and tokenizer of an aligned model folder
    (``flowvox.models.loading``)."""
    return load_model_dir(directory, AlignedTTS, device)
