"""Reading a model directory, for every model family: ``load_model_dir``.

A model directory (written by ``flowvox train`` at export, or by hand) holds

    model.safetensors   the model's state dict, read with safetensors
    config.json         the run config ({"task": TASK, "model": {...}, ...}) or the model
                        config's fields themselves (no "task" key)
    vocab.txt           the tokenizer's vocab (tokenizer "char" or "phoneme:<language>";
                        the config's ``vocab_file`` names it)

A ``ModelFamily`` says which task, config class and model class a directory must hold; the
loaders of the families (``load_infill_model``, ``load_aligned_model``,
``load_fastpitch_model``) are thin wrappers. Nothing is unpickled. Every problem is a
``FlowvoxError`` naming the file and the fix, worded alike for every family.

The training side: ``resolve_model_section`` turns a run file's ``model`` section into the
config that export writes (``text_vocab_size`` and ``vocab_file`` filled in), and
``section_tokenizer`` reads the tokenizer a section asks for before the vocab is known.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.text.tokenizers import ByteTokenizer, CharTokenizer
from flowvox.text.vocab import load_vocab
from flowvox.utils.config import PresetConfig

WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"

C = TypeVar("C")  # a model config dataclass (InfillTTSConfig, AlignedTTSConfig, ...)
M = TypeVar("M", bound=nn.Module)
L = TypeVar("L", bound="LoadedModel")
P = TypeVar("P", bound=PresetConfig)


@dataclass
class LoadedModel(Generic[C, M]):
    """A model ready for inference (eval mode, on the requested device)."""

    model: M
    config: C
    tokenizer: CharTokenizer | ByteTokenizer  # phoneme models: a CharTokenizer over IPA


@dataclass(frozen=True)
class ModelFamily(Generic[C, M, L]):
    """What a model directory of one family holds.

    task: the run config's ``task`` ("infill_tts"); label: the family in messages ("an
    infilling TTS model"); config_class: has ``from_dict`` and the fields ``tokenizer``,
    ``vocab_file`` and ``text_vocab_size``; model_class: builds the model from a config;
    loaded_class: the ``LoadedModel`` subclass returned.
    """

    task: str
    label: str
    config_class: type[C]
    model_class: Callable[[C], M]
    loaded_class: type[L]


def tokenizer_for(name: str, vocab_path: str | os.PathLike | None) -> CharTokenizer | ByteTokenizer:
    """The tokenizer of a model config's ``tokenizer`` field ("char", "byte",
    "phoneme:<language>"); char and phoneme read ``vocab_path``."""
    if name == "byte":
        return ByteTokenizer()
    if name not in ("char", "pinyin") and not name.startswith("phoneme:"):
        raise FlowvoxError(
            f"model tokenizer {name!r} is unknown; use 'char', 'pinyin', 'byte' or "
            "'phoneme:<language>'"
        )
    if vocab_path is None or not Path(vocab_path).is_file():
        raise FlowvoxError(
            f"vocab file {str(vocab_path)!r} not found: tokenizer {name!r} needs the vocab.txt "
            "the model was trained with"
        )
    if name == "pinyin":
        from flowvox.text.pinyin import PinyinTokenizer

        return PinyinTokenizer(load_vocab(vocab_path))
    return CharTokenizer.from_file(vocab_path, name=name)


def section_tokenizer(config_class: type[PresetConfig], model: str | Mapping[str, Any]) -> str:
    """The ``tokenizer`` field a run file's ``model`` section resolves to (a preset name, a
    mapping with ``preset`` and overrides, or the fields), without building the config."""
    if isinstance(model, str):
        return config_class.preset(model).tokenizer
    if "tokenizer" in model:
        return str(model["tokenizer"])
    preset = model.get("preset")
    return config_class.preset(str(preset)).tokenizer if preset else "char"


def resolve_model_section(
    config_class: type[P], model: str | Mapping[str, Any], vocab_size: int
) -> P:
    """A run file's ``model`` section (see ``PresetConfig.from_section``) -> config with
    ``text_vocab_size`` = ``vocab_size`` and ``vocab_file`` set for char/phoneme tokenizers."""
    config = config_class.from_section(model)
    if config.text_vocab_size not in (None, vocab_size):
        raise FlowvoxError(
            f"model.text_vocab_size={config.text_vocab_size} but the vocab has {vocab_size} "
            "tokens; drop model.text_vocab_size (it is filled from the vocab) or pass the "
            "vocab the model was trained with as data.vocab"
        )
    vocab_file = None if config.tokenizer == "byte" else (config.vocab_file or "vocab.txt")
    return config.replace(text_vocab_size=vocab_size, vocab_file=vocab_file)


def read_model_dir_config(path: str | os.PathLike, family: ModelFamily) -> Any:
    """The ``family.config_class`` of a config.json (a run config of ``family.task``, or the
    config fields directly), with ``text_vocab_size`` set."""
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
        if data["task"] != family.task:
            raise FlowvoxError(
                f"{path}: task {data['task']!r} is not {family.label} ({family.task}); "
                f"pass the directory of a {family.task} model"
            )
        data = data.get("model")
        if not isinstance(data, dict):
            raise FlowvoxError(f"{path}: the 'model' section is missing or not a mapping")
    try:
        config = family.config_class.from_dict(data)
    except FlowvoxError as err:
        raise FlowvoxError(f"{path}: {err}") from err
    if config.text_vocab_size is None:
        raise FlowvoxError(f"{path}: model.text_vocab_size is missing; re-export the model")
    return config


def load_model_dir(
    directory: str | os.PathLike, family: ModelFamily[C, M, L], device: str | torch.device
) -> L:
    """``family.loaded_class`` (model in eval mode on ``device``, config, tokenizer) of a
    model directory; see the module docstring for its files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(directory)
    if not folder.is_dir():
        raise FlowvoxError(f"model directory {str(folder)!r} not found; pass --model DIR")
    config = read_model_dir_config(folder / CONFIG_FILE, family)
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
    model = family.model_class(config)
    check_state_dict(model, state, weights)
    model.load_state_dict(state)
    return family.loaded_class(model.to(device).eval(), config, tokenizer)


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
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
