"""The infilling TTS family (F5-TTS / E2-TTS): config, text embedding, DiT and E2 backbones,
the model and its span-infilling objective, training task, loader, F5 checkpoint converter."""

from flowvox.models.infill.config import INFILL_PRESETS, InfillTTSConfig
from flowvox.models.infill.embed import TextCache
from flowvox.models.infill.model import InfillTTS, LossOutput, TrainingDraw

__all__ = [
    "INFILL_PRESETS",
    "InfillTTS",
    "InfillTTSConfig",
    "LossOutput",
    "TextCache",
    "TrainingDraw",
]
