"""flowvox.vocoders: log-mel -> waveform models and their checkpoint directories.

Every vocoder maps a log-mel (b, n, f) to a waveform (b, s) and carries its mel config as
``config.mel``; ``resolve_vocoder`` / ``load_vocoder(expect_mel=...)`` check it against the
acoustic model's mel. Training: ``task: vocoder`` (``flowvox.vocoders.train``).
"""

from flowvox.vocoders.griffin_lim import GriffinLim, GriffinLimConfig, griffin_lim_vocoder
from flowvox.vocoders.hifigan import HIFIGAN_PRESETS, HiFiGAN, HiFiGANConfig
from flowvox.vocoders.io import (
    VOCODER_FAMILIES,
    load_vocoder,
    load_vocoder_config,
    resolve_vocoder,
    save_vocoder,
)
from flowvox.vocoders.pairing import GRIFFIN_LIM_NAMES, check_vocoder_pairing, vocoder_mel
from flowvox.vocoders.vocos import (
    ISTFTHead,
    Vocos,
    VocosBackbone,
    VocosConfig,
    load_vocos_release,
)

__all__ = [
    "GRIFFIN_LIM_NAMES",
    "HIFIGAN_PRESETS",
    "VOCODER_FAMILIES",
    "GriffinLim",
    "GriffinLimConfig",
    "HiFiGAN",
    "HiFiGANConfig",
    "ISTFTHead",
    "Vocos",
    "VocosBackbone",
    "VocosConfig",
    "check_vocoder_pairing",
    "griffin_lim_vocoder",
    "load_vocoder",
    "load_vocoder_config",
    "load_vocos_release",
    "resolve_vocoder",
    "save_vocoder",
    "vocoder_mel",
]
