"""flowvox.vocoders: log-mel -> waveform models and their checkpoint directories.

Vocos is listed here; the HiFi-GAN / Griffin-Lim names are merged in by the lead.
"""

from flowvox.vocoders.checkpoint import (
    VOCODER_FAMILIES,
    load_vocoder,
    load_vocoder_config,
    save_vocoder,
)
from flowvox.vocoders.vocos import ISTFTHead, Vocos, VocosBackbone, VocosConfig

__all__ = [
    "VOCODER_FAMILIES",
    "ISTFTHead",
    "Vocos",
    "VocosBackbone",
    "VocosConfig",
    "load_vocoder",
    "load_vocoder_config",
    "save_vocoder",
]
