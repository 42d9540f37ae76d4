"""Reading an infilling TTS model folder: ``load_infill_model``.

A model folder (written by ``flowvox train`` for task ``infill_tts``, ``InfillTTS.
save_pretrained`` or ``flowvox convert f5``) holds ``model.safetensors`` (InfillTTS state
dict, keys ``transformer....``), ``config.json`` (stamped family "infill") and ``vocab.txt``;
reading and checking them is ``flowvox.models.loading``'s, shared with the other families.
"""

from __future__ import annotations

import os

import torch

from flowvox.models.infill.config import InfillTTSConfig
from flowvox.models.infill.model import InfillTTS
from flowvox.models.loading import LoadedModel, load_model_dir

LoadedInfillModel = LoadedModel[InfillTTSConfig, InfillTTS]


def load_infill_model(
    directory: str | os.PathLike, device: str | torch.device = "cpu"
) -> LoadedInfillModel:
    """Model (eval mode, on ``device``), config and tokenizer of an infilling model folder."""
    return load_model_dir(directory, InfillTTS, device)
