"""flowvox.models: one module per model family, built from flowvox.nn blocks."""

from flowvox.models.infill_config import INFILL_PRESETS, InfillTTSConfig
from flowvox.models.infill_embed import TextCache
from flowvox.models.infill_tts import (
    InfillTTS,
    LossOutput,
    TrainingDraw,
    lengths_to_mask,
    pad_token_ids,
    random_span_mask,
)

__all__ = [
    "INFILL_PRESETS",
    "InfillTTS",
    "InfillTTSConfig",
    "LossOutput",
    "TextCache",
    "TrainingDraw",
    "lengths_to_mask",
    "pad_token_ids",
    "random_span_mask",
]
