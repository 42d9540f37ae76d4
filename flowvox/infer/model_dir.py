"""What a model directory may name besides the model: its vocoder and its voices.

MODEL_DIR/vocoder/            a vocoder directory (model.safetensors + config.json), or
config.json "vocoder": PATH   a vocoder directory relative to MODEL_DIR ("griffin-lim" too)
MODEL_DIR/reference.wav       the default voice prompt (used when no ref_audio is given)
MODEL_DIR/reference.txt       its transcript (else it is transcribed)
MODEL_DIR/voices.json         named voice prompts: {"default": NAME, "voices": {NAME:
                              {"audio": "voices/NAME.wav", "text": ..., "source": ...}}};
                              the default voice speaks when there is no reference.wav
MODEL_DIR/sampling.json       the model's own sampling defaults, e.g. {"nfe": 8, "cfg": 0.7}
                              (keys of SAMPLING_KEYS; a flag the user gives wins)

The model bundled with flowvox is such a directory: ``flowvox/default_voice/`` in the
package, or the folder the environment variable ``FLOWVOX_MODEL`` names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flowvox.errors import FlowvoxError
from flowvox.infer.options import SynthesisOptions
from flowvox.vocoders.pairing import GRIFFIN_LIM_NAMES

DEFAULT_REFERENCE = ("reference.wav", "reference.txt")
VOICES_FILE = "voices.json"
SAMPLING_FILE = "sampling.json"
SAMPLING_KEYS = ("nfe", "cfg", "sway", "solver")
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "default_voice"
MODEL_ENV = "FLOWVOX_MODEL"

Prompt = tuple[Path, str | None]  # voice prompt wav, its transcript (None: transcribe it)


def bundled_model_dir() -> Path | None:
    """The model used when none is named: ``$FLOWVOX_MODEL``, else the package's
    ``default_voice/`` when it holds weights; None when there is neither."""
    named = os.environ.get(MODEL_ENV)
    if named:
        if not Path(named).is_dir():
            raise FlowvoxError(f"{MODEL_ENV}={named}: no such model folder; unset it or fix it")
        return Path(named)
    return BUNDLED_DIR if (BUNDLED_DIR / "model.safetensors").is_file() else None


def named_voices(folder: Path) -> tuple[dict[str, Prompt], str | None]:
    """({name: (wav, text)}, default name or None) from ``voices.json``; ({}, None) when the
    directory has none. A listed file that is missing is a ``FlowvoxError``."""
    path = Path(folder) / VOICES_FILE
    if not path.is_file():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["voices"]
        voices = {
            str(name): (Path(folder) / entry["audio"], entry.get("text") or None)
            for name, entry in entries.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise FlowvoxError(
            f"{path}: not a voices file ({err!r}); rewrite it with flowvox pack"
        ) from err
    for name, (wav, _) in voices.items():
        if not wav.is_file():
            raise FlowvoxError(f"{path}: voice {name!r} names {wav}, which is missing")
    default = data.get("default")
    if default is not None and default not in voices:
        raise FlowvoxError(f"{path}: default voice {default!r} is not among {sorted(voices)}")
    return voices, default


def sampling_defaults(folder: Path) -> dict[str, Any]:
    """The model directory's ``sampling.json`` ({} when it has none), checked: only
    ``SAMPLING_KEYS``, values that ``SynthesisOptions`` accepts."""

    path = Path(folder) / SAMPLING_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise FlowvoxError(f"{path}: not JSON ({err}); rewrite it with flowvox pack") from err
    if not isinstance(data, dict) or set(data) - set(SAMPLING_KEYS):
        raise FlowvoxError(f"{path}: give an object with keys among {', '.join(SAMPLING_KEYS)}")
    try:
        SynthesisOptions(**data)
    except (FlowvoxError, TypeError) as err:
        raise FlowvoxError(f"{path}: {err}") from err
    return data


def default_reference(folder: Path) -> Prompt | None:
    """(reference.wav, its text or None) of a model directory, else its default named
    voice; None when it has neither."""
    wav, txt = (Path(folder) / name for name in DEFAULT_REFERENCE)
    if wav.is_file():
        return wav, (txt.read_text(encoding="utf-8").strip() or None) if txt.is_file() else None
    voices, default = named_voices(folder)
    return voices[default] if default is not None else None


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
        return named if named.lower() in GRIFFIN_LIM_NAMES else str(folder / named)
    return None
