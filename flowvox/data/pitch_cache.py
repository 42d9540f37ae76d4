"""Per-utterance frame pitch cached beside the mel cache of a prepared folder.

Axis letters: n frames.

Layout: ``<prepared>/pitch/<stem>-<hash>.safetensors`` (the mel cache's name under
``pitch/``), tensor "f0" float32 (n,) in Hz, 0 on unvoiced frames, with string metadata: the
pitch settings, the mel preset and the source file's size and mtime. A file whose metadata
differs (other settings, audio changed) is recomputed. Written atomically, so several loader
processes may fill the cache at once. Loading never unpickles.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from flowvox.audio.io import load_audio
from flowvox.audio.mel import MelConfig
from flowvox.audio.pitch import PitchConfig, frame_pitch
from flowvox.data.cache import MEL_DIR, mel_cache_name, source_signature
from flowvox.utils.atomic import atomic_path

PITCH_DIR = "pitch"
PITCH_FORMAT = "flowvox-pitch-v1"


def pitch_cache_path(folder: str | os.PathLike, audio: str | os.PathLike) -> Path:
    """Where the pitch of ``audio`` is cached inside the prepared ``folder``."""
    name = mel_cache_name(audio)
    return Path(folder) / PITCH_DIR / name[len(MEL_DIR) + 1 :]


def _signature(audio: str, mel: MelConfig, pitch: PitchConfig) -> dict[str, str]:
    return {
        "format": PITCH_FORMAT,
        "mel": str(sorted(mel.to_dict().items())),
        "pitch": repr(pitch),
        **source_signature(audio),
    }


def cached_pitch(
    folder: str | os.PathLike | None,
    audio: str | os.PathLike,
    frames: int,
    mel: MelConfig,
    pitch: PitchConfig,
) -> torch.Tensor:
    """F0 (n,) float32 of ``audio`` per frame of ``mel``, cropped or zero-padded to ``frames``
    (the cached mel's length). With ``folder`` None it is computed and not stored."""
    audio = str(audio)
    path = None if folder is None else pitch_cache_path(folder, audio)
    want = _signature(audio, mel, pitch)
    if path is not None and path.is_file():
        try:
            with safe_open(str(path), framework="pt") as fh:
                if dict(fh.metadata() or {}) == want:
                    return _fit(fh.get_tensor("f0"), frames)
        except Exception:  # an unreadable file is recomputed below
            pass
    clip = load_audio(audio, mel.sample_rate)
    f0 = torch.from_numpy(frame_pitch(clip.wav, mel, pitch).astype(np.float32))  # (n,)
    if path is not None:
        with atomic_path(path) as tmp:
            save_file({"f0": f0.contiguous()}, str(tmp), metadata=want)
    return _fit(f0, frames)


def _fit(f0: torch.Tensor, frames: int) -> torch.Tensor:
    out = torch.zeros(frames, dtype=torch.float32)
    k = min(frames, f0.shape[0])
    out[:k] = f0[:k]
    return out
