"""Reading an infilling TTS model directory: ``load_infill_model``.

A model directory (written by ``flowvox train`` for task ``infill_tts``, or by hand) holds

    model.safetensors   InfillTTS state dict (keys ``transformer....``), read with safetensors
    config.json         the run config ({"task": "infill_tts", "model": {...}, ...}) or the
                        InfillTTSConfig fields themselves (no "task" key)
    vocab.txt           the tokenizer's vocab (tokenizer "char" or "phoneme:<language>")

Nothing is unpickled. Every problem is a ``FlowvoxError`` naming the file and the fix.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from flowvox.errors import FlowvoxError
from flowvox.models.infill_config import InfillTTSConfig
from flowvox.models.infill_tts import InfillTTS
from flowvox.text.tokenizers import ByteTokenizer, CharTokenizer

WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"


@dataclass
class LoadedInfillModel:
    """A model ready for inference (eval mode, on the requested device)."""

    model: InfillTTS
    config: InfillTTSConfig
    tokenizer: CharTokenizer | ByteTokenizer  # phoneme models: a CharTokenizer over IPA


def tokenizer_for(name: str, vocab_path: str | os.PathLike | None) -> CharTokenizer | ByteTokenizer:
    """The tokenizer of a model config's ``tokenizer`` field ("char", "byte",
    "phoneme:<language>"); char and phoneme read ``vocab_path``."""
    if name == "byte":
        return ByteTokenizer()
    if name != "char" and not name.startswith("phoneme:"):
        raise FlowvoxError(
            f"model tokenizer {name!r} is unknown; use 'char', 'byte' or 'phoneme:<language>'"
        )
    if vocab_path is None or not Path(vocab_path).is_file():
        raise FlowvoxError(
            f"vocab file {str(vocab_path)!r} not found: tokenizer {name!r} needs the vocab.txt "
            "the model was trained with"
        )
    return CharTokenizer.from_file(vocab_path, name=name)


def read_model_config(path: str | os.PathLike) -> InfillTTSConfig:
    """The ``InfillTTSConfig`` of a config.json (a run config, or the fields directly)."""
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(
            f"{path} not found: a model directory needs {CONFIG_FILE} beside {WEIGHTS_FILE}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FlowvoxError(
            f"{path}: not a readable JSON file ({err}); re-export the model"
        ) from err
    if not isinstance(data, dict):
        raise FlowvoxError(f"{path}: expected a JSON object holding the model config")
    if "task" in data:
        if data["task"] != "infill_tts":
            raise FlowvoxError(
                f"{path}: task {data['task']!r} is not an infilling TTS model (infill_tts); "
                "pass the directory of an infill_tts model"
            )
        data = data.get("model")
        if not isinstance(data, dict):
            raise FlowvoxError(f"{path}: the 'model' section is missing or not a mapping")
    try:
        config = InfillTTSConfig.from_dict(data)
    except FlowvoxError as err:
        raise FlowvoxError(f"{path}: {err}") from err
    if config.text_vocab_size is None:
        raise FlowvoxError(f"{path}: model.text_vocab_size is missing; re-export the model")
    return config


def load_infill_model(
    directory: str | os.PathLike, device: str | torch.device = "cpu"
) -> LoadedInfillModel:
    """``LoadedInfillModel`` (model in eval mode on ``device``, config, tokenizer) of a
    model directory; see the module docstring for its files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(directory)
    if not folder.is_dir():
        raise FlowvoxError(f"model directory {str(folder)!r} not found; pass --model DIR")
    config = read_model_config(folder / CONFIG_FILE)
    vocab = folder / (config.vocab_file or "vocab.txt") if config.tokenizer != "byte" else None
    tokenizer = tokenizer_for(config.tokenizer, vocab)
    if tokenizer.vocab_size != config.text_vocab_size:
        raise FlowvoxError(
            f"{vocab}: {tokenizer.vocab_size} tokens but the model was built for "
            f"{config.text_vocab_size}; use the vocab.txt saved with the model"
        )
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise FlowvoxError(f"{weights} not found: a model directory needs {WEIGHTS_FILE}")
    try:
        state = load_file(weights, device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise FlowvoxError(f"{weights}: not a readable safetensors file ({err})") from err
    model = InfillTTS(config)
    check_state_dict(model, state, weights)
    model.load_state_dict(state)
    return LoadedInfillModel(model.to(device).eval(), config, tokenizer)


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """FlowvoxError listing missing, unexpected and wrongly shaped tensors of ``state``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or shapes):
        return

    def listed(label: str, keys: list[str]) -> str:
        more = f" (+{len(keys) - 6} more)" if len(keys) > 6 else ""
        return f"{label} {len(keys)}: {', '.join(keys[:6])}{more}"

    parts = [
        listed(label, keys)
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes))
        if keys
    ]
    raise FlowvoxError(
        f"{source} does not match its config.json ({'; '.join(parts)}); export the weights "
        "and config of the same model together"
    )
