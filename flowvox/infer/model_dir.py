"""What a model directory may name besides the model: its vocoder and a default voice.

MODEL_DIR/vocoder/            a vocoder directory (model.safetensors + config.json), or
config.json "vocoder": PATH   a vocoder directory relative to MODEL_DIR ("griffin-lim" too)
MODEL_DIR/reference.wav       the default voice prompt (used when no ref_audio is given)
MODEL_DIR/reference.txt       its transcript (else it is transcribed)
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_REFERENCE = ("reference.wav", "reference.txt")


def default_reference(folder: Path) -> tuple[Path, str | None] | None:
    """(reference.wav, its text or None) of a model directory; None when it has none."""
    wav, txt = (Path(folder) / name for name in DEFAULT_REFERENCE)
    if not wav.is_file():
        return None
    return wav, (txt.read_text(encoding="utf-8").strip() or None) if txt.is_file() else None


def named_vocoder(folder: Path) -> str | None:
    """A vocoder the model directory names: ``vocoder/`` inside it, or config.json's
    top-level "vocoder" (a path relative to the directory); None when it names none."""
    inside = folder / "vocoder"
    if (inside / "config.json").is_file():
        return str(inside)
    try:
        named = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("vocoder")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(named, str) and named:
        from flowvox.vocoders.contract import GRIFFIN_LIM_NAMES

        return named if named.lower() in GRIFFIN_LIM_NAMES else str(folder / named)
    return None
