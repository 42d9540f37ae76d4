"""Vocoder folders: ``model.safetensors`` + ``config.json``, written and read by the vocoder
classes themselves (``save_pretrained`` / ``from_pretrained``, as diffusers models do).

config.json holds ``{"family": NAME, "config": {...}}`` where the config dict is the family's
full resolved config, mel config included. Reading takes JSON and safetensors only (nothing is
unpickled), refuses a folder of another family, checks the vocoder's mel against the acoustic
model's (``expect_mel``) before the weights are read, and checks that the weights fit exactly.
``flowvox.vocoders.io`` reads a folder of any family by its stamp.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError
from flowvox.nn.state_dict import check_state_dict
from flowvox.utils.atomic import atomic_path, atomic_write_text
from flowvox.vocoders.pairing import check_vocoder_pairing

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
V = TypeVar("V", bound="PretrainedVocoder")


def read_vocoder_record(directory: str | os.PathLike) -> dict[str, Any]:
    """A vocoder folder's config.json as {"family": NAME, "config": {...}}; one-line errors."""
    folder = Path(directory)
    path = folder / CONFIG_FILE
    if not path.is_file():
        hint = ""
        if (folder / "config.yaml").is_file() and (folder / "pytorch_model.bin").is_file():
            hint = " (it looks like a released Vocos: load it with load_vocos_release)"
        raise FlowvoxError(f"vocoder directory {folder}: no {CONFIG_FILE}{hint}")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FlowvoxError(f"vocoder config {path}: not valid JSON ({error})") from None
    if not isinstance(payload, dict) or "family" not in payload or "config" not in payload:
        raise FlowvoxError(f"vocoder config {path}: expected keys 'family' and 'config'")
    return payload


class PretrainedVocoder(nn.Module):
    """A vocoder class that saves and loads itself; subclasses set ``family`` and
    ``config_class`` and keep their config (with a ``mel``) as ``self.config``."""

    family: ClassVar[str]
    config_class: ClassVar[type]
    config: Any

    def save_pretrained(self, directory: str | os.PathLike, config: object = None) -> Path:
        """Write the weights and ``config`` (default ``self.config``) to ``directory``; each
        file is written atomically (an existing folder is overwritten file by file)."""
        config = config if config is not None else self.config
        if type(config) is not self.config_class:
            raise FlowvoxError(
                f"{type(self).__name__}.save_pretrained: config of type {type(config).__name__}; "
                f"pass a {self.config_class.__name__}"
            )
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        # clone: safetensors refuses tensors that share memory
        state = {k: v.detach().to("cpu").clone() for k, v in self.state_dict().items()}
        with atomic_path(folder / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp), metadata={"family": self.family})
        payload = {"family": self.family, "config": config.to_dict()}
        atomic_write_text(folder / CONFIG_FILE, json.dumps(payload, indent=2) + "\n")
        return folder

    @classmethod
    def config_from_record(cls, payload: dict[str, Any], source: object) -> Any:
        """The config of a record of this family; another family is refused."""
        if payload["family"] != cls.family:
            raise FlowvoxError(
                f"vocoder {source}: family {payload['family']!r} is not {cls.family!r}; "
                f"load it with its own class or flowvox.vocoders.load_vocoder"
            )
        return cls.config_class.from_dict(payload["config"])

    @classmethod
    def from_pretrained(
        cls: type[V],
        directory: str | os.PathLike,
        device: str | torch.device = "cpu",
        expect_mel: MelConfig | None = None,
        acoustic_name: str = "the acoustic model",
    ) -> V:
        """The vocoder saved in ``directory``, in eval mode on ``device``; with ``expect_mel``
        a vocoder made for another mel is refused, naming both sides and the fields."""
        folder = Path(directory)
        config = cls.config_from_record(read_vocoder_record(folder), folder)
        if expect_mel is not None:
            check_vocoder_pairing(expect_mel, config.mel, acoustic_name, f"vocoder {folder}")
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise FlowvoxError(f"vocoder directory {folder}: no {WEIGHTS_FILE}")
        try:
            state = load_file(str(weights), device=str(device))
        except SafetensorError as error:
            raise FlowvoxError(f"vocoder weights {weights}: unreadable ({error})") from None
        model = cls(config)
        check_state_dict(model, state, f"vocoder weights {weights}", "save the weights and "
                         "config.json of the same vocoder together")  # fmt: skip
        model.load_state_dict(state)
        return model.to(device).eval()
