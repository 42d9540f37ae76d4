"""Vocoder folders of any family: ``load_vocoder`` reads the "family" stamp and lets that
vocoder class load itself (``flowvox.vocoders.folder.PretrainedVocoder``).

A family is a ``PretrainedVocoder`` class in ``VOCODER_FAMILIES``: its ``config_class`` has
``to_dict()``, ``from_dict(dict)`` and a ``mel`` attribute (a ``MelConfig``); the class is
built as ``Model(config)`` and keeps it as ``model.config``.

``resolve_vocoder`` turns what a user names (a vocoder directory, ``"griffin-lim"``, a
module, or nothing) into a vocoder checked against the acoustic model's mel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import torch
from torch import nn

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError
from flowvox.vocoders.folder import CONFIG_FILE, PretrainedVocoder, read_vocoder_record
from flowvox.vocoders.griffin_lim import GriffinLim, griffin_lim_vocoder
from flowvox.vocoders.hifigan import HiFiGAN
from flowvox.vocoders.pairing import GRIFFIN_LIM_NAMES, check_vocoder_pairing, vocoder_mel
from flowvox.vocoders.vocos.model import Vocos

# family name -> vocoder class (its ``config_class`` reads the config); read-only
VOCODER_FAMILIES: Mapping[str, type[PretrainedVocoder]] = MappingProxyType(
    {cls.family: cls for cls in (Vocos, HiFiGAN, GriffinLim)}  # Griffin-Lim: no weights
)


def family_of(config: object) -> str:
    """The registered family name of a config object; ``FlowvoxError`` if none."""
    for name, cls in VOCODER_FAMILIES.items():
        if type(config) is cls.config_class:
            return name
    raise FlowvoxError(
        f"no vocoder family for config type {type(config).__name__}; "
        f"known families: {sorted(VOCODER_FAMILIES)}"
    )


def save_vocoder(directory: str | os.PathLike, model: nn.Module, config: object = None) -> Path:
    """Write ``model`` (weights) and ``config`` (default ``model.config``) to ``directory``
    (``model.save_pretrained``); returns the directory path."""
    config = config if config is not None else model.config
    family = family_of(config)
    if not isinstance(model, VOCODER_FAMILIES[family]):
        raise FlowvoxError(
            f"save_vocoder: a {type(model).__name__} with a {family} config; pass the "
            "vocoder's own config"
        )
    return model.save_pretrained(directory, config)


def _family_class(directory: str | os.PathLike) -> tuple[type[PretrainedVocoder], dict]:
    payload = read_vocoder_record(directory)
    family = payload["family"]
    if family not in VOCODER_FAMILIES:
        raise FlowvoxError(
            f"vocoder config {Path(directory) / CONFIG_FILE}: unknown family {family!r}; "
            f"known: {sorted(VOCODER_FAMILIES)}"
        )
    return VOCODER_FAMILIES[family], payload


def load_vocoder_config(directory: str | os.PathLike) -> object:
    """The config object stored in a vocoder directory (weights are not read)."""
    cls, payload = _family_class(directory)
    return cls.config_from_record(payload, directory)


def load_vocoder(
    directory: str | os.PathLike,
    expect_mel: MelConfig | None = None,
    device: str | torch.device = "cpu",
    acoustic_name: str = "the acoustic model",
) -> nn.Module:
    """The vocoder saved in ``directory`` (any family, by its stamp), in eval mode on
    ``device``; with ``expect_mel`` a vocoder made for another mel is refused
    (``PretrainedVocoder.from_pretrained``)."""
    cls, _ = _family_class(directory)
    return cls.from_pretrained(directory, device, expect_mel, acoustic_name)


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
