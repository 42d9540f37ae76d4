"""The mel contract between an acoustic model and its vocoder, and a vocoder for any mel.

# b: batch, n: mel frames, f: mel bins, s: samples
Every vocoder here (Vocos, HiFi-GAN, Griffin-Lim) maps a log-mel (b, n, f) to a waveform
(b, s) and carries the mel it expects as ``vocoder.config.mel``. An acoustic model's mel
output only makes sense to a vocoder built for the same front-end: every field of the two
``MelConfig``s except the preset name must agree (sample rate, STFT framing, filter bank,
log floor). ``check_vocoder_pairing`` enforces it (``flowvox.vocoders.io.resolve_vocoder``
turns what a user names into a checked vocoder). Griffin-Lim has no weights and is built for
any mel, so it is the fallback that always pairs.
"""

from __future__ import annotations

from torch import nn

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError

GRIFFIN_LIM_NAMES = ("griffin-lim", "griffin_lim", "griffinlim", "gl")


def check_vocoder_pairing(
    acoustic_mel: MelConfig,
    vocoder_mel: MelConfig,
    acoustic_name: str = "the acoustic model",
    vocoder_name: str = "the vocoder",
) -> None:
    """Raise ``FlowvoxError`` unless the two mel configs agree in every field but ``name``.

    The one-line message names both sides, both presets and each differing field as
    ``field: acoustic value vs vocoder value``.
    """
    if not isinstance(vocoder_mel, MelConfig):
        raise FlowvoxError(f"{vocoder_name} has no mel config; it cannot be paired with a model")
    acoustic_mel.check_same(vocoder_mel, acoustic_name, vocoder_name)


def vocoder_mel(vocoder: nn.Module) -> MelConfig:
    """The mel a vocoder module expects (``vocoder.config.mel``); ``FlowvoxError`` if none."""
    mel = getattr(getattr(vocoder, "config", None), "mel", None)
    if not isinstance(mel, MelConfig):
        raise FlowvoxError(
            f"{type(vocoder).__name__} has no config.mel; use a flowvox vocoder "
            "(Vocos, HiFiGAN, GriffinLim) or load one with flowvox.vocoders.load_vocoder"
        )
    return mel
