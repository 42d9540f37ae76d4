"""Vocoder directories: ``model.safetensors`` + ``config.json``, for every vocoder family.

config.json holds ``{"family": NAME, "config": {...}}`` where the config dict is the family's
full resolved config, mel config included. Loading reads JSON and safetensors only (nothing is
unpickled) and checks that the weights fit the config exactly.

A family is a (config class, model class) pair in ``VOCODER_FAMILIES``. The config class has
``to_dict()``, ``from_dict(dict)`` and a ``mel`` attribute (a ``MelConfig``); the model class
is built as ``Model(config)`` and keeps it as ``model.config``.

``resolve_vocoder`` turns what a user names (a vocoder directory, ``"griffin-lim"``, a
module, or nothing) into a vocoder checked against the acoustic model's mel.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError
from flowvox.nn.state_dict import describe_mismatch
from flowvox.utils.atomic import atomic_path, atomic_write_text
from flowvox.vocoders.griffin_lim import GriffinLim, GriffinLimConfig
from flowvox.vocoders.hifigan import HiFiGAN, HiFiGANConfig
from flowvox.vocoders.pairing import (
    GRIFFIN_LIM_NAMES,
    check_vocoder_pairing,
    griffin_lim_vocoder,
    vocoder_mel,
)
from flowvox.vocoders.vocos.model import Vocos, VocosConfig

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"

# family name -> (config class, model class). Other vocoder modules add their entry here.
VOCODER_FAMILIES: dict[str, tuple[type, type[nn.Module]]] = {
    "vocos": (VocosConfig, Vocos),
    "hifigan": (HiFiGANConfig, HiFiGAN),
    "griffin_lim": (GriffinLimConfig, GriffinLim),  # no weights: an empty model.safetensors
}


def family_of(config: object) -> str:
    """The registered family name of a config object; ``FlowvoxError`` if none."""
    for name, (config_cls, _) in VOCODER_FAMILIES.items():
        if type(config) is config_cls:
            return name
    raise FlowvoxError(
        f"no vocoder family for config type {type(config).__name__}; "
        f"known families: {sorted(VOCODER_FAMILIES)}"
    )


def save_vocoder(directory: str | os.PathLike, model: nn.Module, config: object = None) -> Path:
    """Write ``model`` (weights) and ``config`` (default ``model.config``) to ``directory``.

    Each file is written atomically; an existing directory is overwritten file by file.
    Returns the directory path.
    """
    config = config if config is not None else model.config
    family = family_of(config)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    # clone: safetensors refuses tensors that share memory
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"family": family})
    payload = {"family": family, "config": config.to_dict()}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(payload, indent=2) + "\n")
    return folder


def load_vocoder_config(directory: str | os.PathLike) -> object:
    """The config object stored in a vocoder directory (weights are not read)."""
    folder = Path(directory)
    path = folder / CONFIG_FILE
    if not path.is_file():
        hint = ""
        if (folder / "config.yaml").is_file() and (folder / "pytorch_model.bin").is_file():
            hint = " (it looks like a released Vocos: load it with load_vocos_release)"
        raise FlowvoxError(f"vocoder directory {folder}: no {CONFIG_FILE}{hint}")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise FlowvoxError(f"vocoder config {path}: not valid JSON ({error})") from None
    if not isinstance(payload, dict) or "family" not in payload or "config" not in payload:
        raise FlowvoxError(f"vocoder config {path}: expected keys 'family' and 'config'")
    family = payload["family"]
    if family not in VOCODER_FAMILIES:
        raise FlowvoxError(
            f"vocoder config {path}: unknown family {family!r}; known: {sorted(VOCODER_FAMILIES)}"
        )
    config_cls, _ = VOCODER_FAMILIES[family]
    return config_cls.from_dict(payload["config"])


def load_vocoder(
    directory: str | os.PathLike,
    expect_mel: MelConfig | None = None,
    device: str | torch.device = "cpu",
    acoustic_name: str = "the acoustic model",
) -> nn.Module:
    """The vocoder saved in ``directory``, in eval mode on ``device``.

    With ``expect_mel`` (the acoustic model's mel config), a vocoder trained on another mel
    is refused with a ``FlowvoxError`` naming both sides (``acoustic_name`` and the folder)
    and the differing mel fields (``check_vocoder_pairing``).
    """
    folder = Path(directory)
    config = load_vocoder_config(folder)
    if expect_mel is not None:
        check_vocoder_pairing(expect_mel, config.mel, acoustic_name, f"vocoder {folder}")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise FlowvoxError(f"vocoder directory {folder}: no {WEIGHTS_FILE}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights), device=str(device))
    except SafetensorError as error:
        raise FlowvoxError(f"vocoder weights {weights}: unreadable ({error})") from None
    _, model_cls = VOCODER_FAMILIES[family_of(config)]
    model = model_cls(config)
    mismatch = describe_mismatch(model.state_dict(), state)
    if mismatch:
        raise FlowvoxError(f"vocoder weights {weights} do not fit its config.json: {mismatch}")
    model.load_state_dict(state)
    return model.to(device).eval()


def resolve_vocoder(
    source: str | os.PathLike | nn.Module | None,
    mel: MelConfig,
    device: str | torch.device = "cpu",
    acoustic_name: str = "the acoustic model",
) -> nn.Module:
    """A vocoder for an acoustic model whose mel config is ``mel``, checked against it.

    ``source``: None or one of ``GRIFFIN_LIM_NAMES`` -> Griffin-Lim for ``mel``; a vocoder
    directory -> ``load_vocoder(source, expect_mel=mel)``; a module -> checked and returned.
    The result is in eval mode on ``device``.
    """
    if source is None or (isinstance(source, str) and source.lower() in GRIFFIN_LIM_NAMES):
        return griffin_lim_vocoder(mel).to(device)
    if isinstance(source, nn.Module):
        check_vocoder_pairing(mel, vocoder_mel(source), acoustic_name, type(source).__name__)
        return source.to(device).eval()
    folder = Path(source)
    if not folder.is_dir():
        raise FlowvoxError(
            f"vocoder {folder}: no such directory; pass a vocoder directory (model.safetensors "
            f"+ config.json) or 'griffin-lim'"
        )
    return load_vocoder(folder, expect_mel=mel, device=device, acoustic_name=acoustic_name)
