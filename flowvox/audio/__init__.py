"""Audio: wav io, resampling, loudness, silence trimming and log-mel front-ends."""

from flowvox.audio.io import (
    AudioClip,
    check_finite,
    is_silent,
    load_audio,
    loudness_normalize,
    peak_dbfs,
    resample,
    save_audio,
    trim_silence,
)
from flowvox.audio.mel import MEL_PRESETS, MelConfig, MelSpectrogram, get_mel_preset

__all__ = [
    "AudioClip",
    "MEL_PRESETS",
    "MelConfig",
    "MelSpectrogram",
    "check_finite",
    "get_mel_preset",
    "is_silent",
    "load_audio",
    "loudness_normalize",
    "peak_dbfs",
    "resample",
    "save_audio",
    "trim_silence",
]
