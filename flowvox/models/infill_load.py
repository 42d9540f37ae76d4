"""Reading an infilling TTS model directory: ``load_infill_model``.

A model directory (written by ``flowvox train`` for task ``infill_tts``, or by hand) holds
``model.safetensors`` (InfillTTS state dict, keys ``transformer....``), ``config.json`` (the
run config, or the InfillTTSConfig fields themselves) and ``vocab.txt``; reading and checking
them is ``flowvox.models.model_dir``'s, shared with the other model families.
"""

from __future__ import annotations

import os

import torch

from flowvox.models.infill_config import InfillTTSConfig
from flowvox.models.infill_tts import InfillTTS
from flowvox.models.model_dir import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    LoadedModel,
    ModelFamily,
    check_state_dict,
    load_model_dir,
    tokenizer_for,
)

__all__ = [
    "CONFIG_FILE",
    "INFILL_FAMILY",
    "WEIGHTS_FILE",
    "LoadedInfillModel",
    "check_state_dict",
    "load_infill_model",
    "tokenizer_for",
]


class LoadedInfillModel(LoadedModel[InfillTTSConfig, InfillTTS]):
    """An infilling model ready for inference (eval mode, on the requested device)."""


INFILL_FAMILY = ModelFamily(
    "infill_tts", "an infilling TTS model", InfillTTSConfig, InfillTTS, LoadedInfillModel
)


def load_infill_model(
    directory: str | os.PathLike, device: str | torch.device = "cpu"
) -> LoadedInfillModel:
    """``LoadedInfillModel`` (model in eval mode on ``device``, config, tokenizer) of a
    model directory; see the module docstring for its files."""
    return load_model_dir(directory, INFILL_FAMILY, device)
