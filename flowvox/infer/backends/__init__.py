"""The model families behind the Synthesizer: one ``Backend`` each, picked by the folder's
"family" stamp (``load_backend``) or by the model's class (``backend_for``)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from flowvox.errors import FlowvoxError
from flowvox.infer.backends.aligned import AlignedBackend
from flowvox.infer.backends.base import Backend, Capabilities
from flowvox.infer.backends.fastpitch import FastPitchBackend
from flowvox.infer.backends.infill import InfillBackend
from flowvox.models.loading import CONFIG_FILE, describe_folder, read_config_json
from flowvox.text.tokenizers import Tokenizer

# Every family that speaks (``ModelFamily.holds`` also knows their format-0 folders).
BACKENDS: tuple[type[Backend], ...] = (AlignedBackend, FastPitchBackend, InfillBackend)


def backend_for(model: torch.nn.Module, tokenizer: Tokenizer) -> Backend:
    """The backend of a loaded model, by its class."""
    for cls in BACKENDS:
        if isinstance(model, cls.model_class):
            return cls(model, tokenizer)
    names = ", ".join(cls.model_class.__name__ for cls in BACKENDS)
    raise FlowvoxError(
        f"{type(model).__name__} is not a speech model flowvox speaks with ({names})"
    )


def load_backend(folder: str | os.PathLike, device: str | torch.device = "cpu") -> Backend:
    """The backend of a model folder, picked by its config.json's family."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FlowvoxError(f"model directory {str(folder)!r} not found; pass --model DIR")
    data = read_config_json(folder / CONFIG_FILE)
    for cls in BACKENDS:
        if cls.model_class.family.holds(data):
            return cls.load(folder, device)
    families = ", ".join(cls.model_class.family.name for cls in BACKENDS)
    raise FlowvoxError(
        f"{folder}: {describe_folder(data)} is not a speech model flowvox speaks with "
        f"(families: {families}); pass the folder of an acoustic model"
    )


__all__ = [
    "BACKENDS",
    "AlignedBackend",
    "Backend",
    "Capabilities",
    "FastPitchBackend",
    "InfillBackend",
    "backend_for",
    "load_backend",
]
