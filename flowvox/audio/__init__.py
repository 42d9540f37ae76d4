"""Audio: wav io, resampling, loudness, silence trimming and log-mel front-ends.

The mel names load torch, so they are imported on first use (``flowvox.audio.MelConfig``);
the waveform helpers need only numpy. Speech recognisers: ``flowvox.audio.asr``.
"""

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

_MEL_NAMES = ("MEL_PRESETS", "MelConfig", "MelSpectrogram", "get_mel_preset")

__all__ = [
    "AudioClip", "check_finite", "is_silent", "load_audio", "loudness_normalize", "peak_dbfs",
    "resample", "save_audio", "trim_silence", *_MEL_NAMES,
]  # fmt: skip


def __getattr__(name: str):
    if name in _MEL_NAMES:
        from flowvox.audio import mel

        return getattr(mel, name)
    raise AttributeError(f"module 'flowvox.audio' has no attribute {name!r}")
