"""Pack a trained sound model: the latent flow model folder with its mel VAE and vocoder.

Layout (read by the ``flowvox sound`` backend)::

    OUT/                 the tta_lfm export: model.safetensors, config.json (+ vocab.txt)
    OUT/vae/             the tta_vae export: model.safetensors, config.json (scaling_factor)
    OUT/vocoder/         the vocoder export: model.safetensors, config.json

or, for ``vocoder="griffin-lim"``, no vocoder/ folder and ``"vocoder": "griffin-lim"`` in
OUT/config.json (the sound model then vocodes with Griffin-Lim on the VAE's mel, quietly).

Floating-point weights are stored as float16 (loaders cast them back to the model's dtype);
config files and any other plain files are copied as they are.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_folder
from flowvox.vocoders.pairing import GRIFFIN_LIM_NAMES

WEIGHTS = "model.safetensors"
PARTS = ("vae", "vocoder")  # sub-folders of a packed sound model


def copy_halved(src: Path, dst: Path, half: bool = True) -> None:
    """Copy the model folder ``src`` (its plain files, no sub-folders) into ``dst``, the
    floating tensors of ``model.safetensors`` cast to float16 when ``half``."""
    if not (src / WEIGHTS).is_file():
        raise FlowvoxError(f"{src}: no {WEIGHTS}; pass an exported model folder (RUN/model)")
    dst.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.iterdir()):
        if not item.is_file() or item.name.startswith("."):
            continue
        if item.name == WEIGHTS:
            state = load_file(str(item))
            if half:
                state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
            save_file({k: v.contiguous() for k, v in state.items()}, str(dst / WEIGHTS))
        else:
            shutil.copy2(item, dst / item.name)


def pack_sound_model(
    model: str | os.PathLike,
    vae: str | os.PathLike,
    vocoder: str | os.PathLike,
    out: str | os.PathLike,
    half: bool = True,
    default_seconds: float | None = None,
) -> Path:
    """Write ``out`` (a new folder, written atomically): ``model``'s files, ``vae/`` and
    ``vocoder/`` (or the name "griffin-lim"; see the module docstring); returns ``out``.
    ``default_seconds`` (the clip length the model was trained on) is written to config.json
    as the length `flowvox sound` makes when not told."""
    griffin_lim = isinstance(vocoder, str) and vocoder.lower() in GRIFFIN_LIM_NAMES
    with atomic_folder(out, "packing") as tmp:
        copy_halved(Path(model), tmp, half)
        copy_halved(Path(vae), tmp / "vae", half)
        if not griffin_lim:
            copy_halved(Path(vocoder), tmp / "vocoder", half)
        config = json.loads((tmp / "config.json").read_text(encoding="utf-8"))
        if default_seconds is not None:
            config["default_seconds"] = float(default_seconds)
        if griffin_lim:
            config["vocoder"] = "griffin-lim"
        (tmp / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return Path(out)
