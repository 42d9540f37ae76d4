"""Model folders, for every model family: ``save_model_dir``, ``load_model_dir``, the stamp.

A model folder (written by ``flowvox train`` at export, ``save_pretrained``, ``flowvox
convert``, or by hand) holds

    model.safetensors   the model's state dict, read with safetensors
    config.json         {"family": NAME, "format_version": 1, "model": {...}, ...}: the stamp,
                        the model config's fields, and (from a training run) the run config
    vocab.txt           the tokenizer's vocab (tokenizer "char" or "phoneme:<language>";
                        the config's ``vocab_file`` names it)

A ``ModelFamily`` (one per family, beside its config class) names the stamp, the config
class and the training task. Folders written before the stamp existed (format 0) still
load: their family is read from the run config's "task", or, for a config.json holding a
model config's fields directly, from the fields only that family has (``legacy_fields``).
Model classes inherit ``PretrainedModel`` and so save and load themselves. Nothing is
unpickled. Every problem is a ``FlowvoxError`` naming the file and the fix, worded alike
for every family.

The training side: ``resolve_model_section`` turns a run file's ``model`` section into the
config that export writes (``text_vocab_size`` and ``vocab_file`` filled in), and
``section_tokenizer`` reads the tokenizer a section asks for before the vocab is known.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.nn.state_dict import check_state_dict
from flowvox.text.pinyin import PinyinTokenizer
from flowvox.text.tokenizers import ByteTokenizer, CharTokenizer
from flowvox.text.vocab import load_vocab
from flowvox.utils.atomic import atomic_folder, check_new_folder
from flowvox.utils.config import PresetConfig
from flowvox.utils.json_files import read_json_object

WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"
FAMILY_KEY, FORMAT_KEY = "family", "format_version"
FORMAT_VERSION = 1  # config.json layout written now; 0: no stamp (read by task or fields)

C = TypeVar("C")  # a model config dataclass (InfillTTSConfig, AlignedTTSConfig, ...)
M = TypeVar("M", bound="PretrainedModel")
P = TypeVar("P", bound=PresetConfig)


@dataclass
class LoadedModel(Generic[C, M]):
    """A model ready for inference (eval mode, on the requested device)."""

    model: M
    config: C
    tokenizer: CharTokenizer | ByteTokenizer  # phoneme models: a CharTokenizer over IPA


@dataclass(frozen=True)
class ModelFamily:
    """What a model folder of one family holds.

    name: the stamp in config.json ("infill"); task: the run-file task that trains it
    ("infill_tts"); label: the family in messages ("an infilling TTS model"); config_class:
    has ``from_dict``, ``to_dict`` and the fields ``tokenizer``, ``vocab_file`` and
    ``text_vocab_size``; legacy_fields: fields only this family's config has, which identify
    a format-0 config.json that holds the config fields directly.
    """

    name: str
    task: str
    label: str
    config_class: type
    legacy_fields: tuple[str, ...] = ()

    def holds(self, data: Mapping[str, Any]) -> bool:
        """True when a config.json's contents are a model folder of this family."""
        if FAMILY_KEY in data:
            return data[FAMILY_KEY] == self.name
        if "task" in data:  # format 0, a training run's export
            return data["task"] == self.task
        return bool(self.legacy_fields) and all(k in data for k in self.legacy_fields)


class PretrainedModel(nn.Module):
    """A model class that saves and loads itself as a model folder (as diffusers models do).

    Subclasses set ``family`` and keep their config as ``self.config``:
    ``model.save_pretrained(DIR, vocab=...)``, ``Model.from_pretrained(DIR, device)``.
    """

    family: ClassVar[ModelFamily]
    config: Any
    # state-dict key of each text-embedding table -> the row of token id 0 (rows before it are
    # special, e.g. F5's filler; rows after the vocab, e.g. a blank, follow the tokens)
    token_rows: ClassVar[Mapping[str, int]] = {}

    def save_pretrained(
        self,
        folder: str | os.PathLike,
        vocab: str | os.PathLike | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write a new model folder (weights, stamped config.json, ``vocab`` copied as the
        config's ``vocab_file``); ``extra`` adds top-level config.json keys."""
        return save_model_dir(folder, self, vocab, extra)

    @classmethod
    def from_pretrained(
        cls: type[M], folder: str | os.PathLike, device: str | torch.device = "cpu"
    ) -> M:
        """The model of a folder of this family, in eval mode on ``device``."""
        return load_model_dir(folder, cls, device).model


def stamp_family(config: Mapping[str, Any], family: ModelFamily) -> dict[str, Any]:
    """``config`` (a run config or {"model": ...}) with the family stamp in front."""
    rest = {k: v for k, v in config.items() if k not in (FAMILY_KEY, FORMAT_KEY)}
    return {FAMILY_KEY: family.name, FORMAT_KEY: FORMAT_VERSION, **rest}


def upgrade_config(data: Mapping[str, Any], family: ModelFamily) -> dict[str, Any]:
    """A config.json of ``family`` in the current format: stamped; a format-0 config of bare
    model fields moves under "model"."""
    if not family.holds(data):
        raise FlowvoxError(f"config.json: {describe_folder(data)} is not {family.label}")
    if FAMILY_KEY not in data and "task" not in data:
        data = {"model": dict(data)}
    return stamp_family(data, family)


def read_config_json(path: str | os.PathLike) -> dict[str, Any]:
    """A folder's config.json as a dict; one-line ``FlowvoxError`` when missing or unreadable."""
    return read_json_object(
        path, f"a model directory needs {CONFIG_FILE} beside {WEIGHTS_FILE}",
        fix="re-export the model", holding="the model config",
    )  # fmt: skip


def describe_folder(data: Mapping[str, Any]) -> str:
    """What a config.json says it is, for messages ("family 'vocos'", "task 'x'", ...)."""
    if FAMILY_KEY in data:
        return f"family {data[FAMILY_KEY]!r}"
    if "task" in data:
        return f"task {data['task']!r}"
    return "no family stamp"


def save_model_dir(
    folder: str | os.PathLike,
    model: PretrainedModel,
    vocab: str | os.PathLike | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a new model folder (atomically; an existing folder is refused)."""
    folder = Path(folder)
    check_new_folder(folder)
    config = model.config
    record = stamp_family({**(extra or {}), "model": config.to_dict()}, model.family)
    with atomic_folder(folder) as tmp:
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        (tmp / CONFIG_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        if vocab is not None:
            shutil.copyfile(vocab, tmp / (config.vocab_file or "vocab.txt"))
    return folder


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
    """The ``family.config_class`` of a config.json (stamped, a format-0 run config of
    ``family.task``, or format-0 config fields), with ``text_vocab_size`` set."""
    data = read_config_json(path)
    if data.get(FORMAT_KEY, 0) > FORMAT_VERSION:
        raise FlowvoxError(
            f"{path}: format_version {data[FORMAT_KEY]} is newer than this flowvox reads "
            f"({FORMAT_VERSION}); upgrade flowvox"
        )
    if not family.holds(data):
        raise FlowvoxError(
            f"{path}: {describe_folder(data)} is not {family.label} (family {family.name!r}, "
            f"task {family.task!r}); pass the folder of {family.label}"
        )
    if FAMILY_KEY in data or "task" in data:
        data = data.get("model")
        if not isinstance(data, dict):
            raise FlowvoxError(f"{path}: the 'model' section is missing or not a mapping")
    try:
        config = family.config_class.from_dict(data)
    except FlowvoxError as err:
        raise FlowvoxError(f"{path}: {err}") from err
    if hasattr(config, "tokenizer") and config.text_vocab_size is None:
        raise FlowvoxError(f"{path}: model.text_vocab_size is missing; re-export the model")
    return config


def load_model_dir(
    directory: str | os.PathLike, model_class: type[M], device: str | torch.device = "cpu"
) -> LoadedModel[Any, M]:
    """``LoadedModel`` (model in eval mode on ``device``, config, tokenizer) of a model
    folder of ``model_class.family``; see the module docstring for its files."""
    folder = model_folder(directory)
    config, tokenizer = read_model_dir(folder, model_class.family)
    model = load_weights(folder, model_class(config), device)
    return LoadedModel(model, config, tokenizer)


def read_model_dir(folder: Path, family: ModelFamily) -> tuple[Any, CharTokenizer | ByteTokenizer]:
    """The config and tokenizer of a model folder of ``family`` (weights not read); the
    vocab must hold the ``text_vocab_size`` tokens the model was built for."""
    config = read_model_dir_config(folder / CONFIG_FILE, family)
    vocab = folder / (config.vocab_file or "vocab.txt") if config.tokenizer != "byte" else None
    tokenizer = tokenizer_for(config.tokenizer, vocab)
    if tokenizer.vocab_size != config.text_vocab_size:
        raise FlowvoxError(
            f"{vocab}: {tokenizer.vocab_size} tokens but the model was built for "
            f"{config.text_vocab_size}; use the vocab.txt saved with the model"
        )
    return config, tokenizer


def load_model(
    directory: str | os.PathLike, model_class: type[M], device: str | torch.device = "cpu"
) -> M:
    """The model of a folder of ``model_class.family`` that has no tokenizer (e.g. the mel
    VAE), in eval mode on ``device``: its stamped config.json and its weights."""
    folder = model_folder(directory)
    config = read_model_dir_config(folder / CONFIG_FILE, model_class.family)
    return load_weights(folder, model_class(config), device)


def model_folder(directory: str | os.PathLike) -> Path:
    """``directory`` as a path; a one-line error when it is not a folder."""
    folder = Path(directory)
    if not folder.is_dir():
        raise FlowvoxError(f"model directory {str(folder)!r} not found; pass --model DIR")
    return folder


def load_weights(folder: Path, model: M, device: str | torch.device = "cpu") -> M:
    """``model`` with the weights of ``folder/model.safetensors`` (checked to fit exactly),
    in eval mode on ``device``."""
    state = read_weights(folder)
    check_state_dict(model, state, folder / WEIGHTS_FILE)
    model.load_state_dict(state)
    return model.to(device).eval()


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``folder/model.safetensors`` on the CPU (nothing unpickled)."""
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise FlowvoxError(f"{weights} not found: a model directory needs {WEIGHTS_FILE}")
    try:
        return load_file(weights, device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise FlowvoxError(f"{weights}: not a readable safetensors file ({err})") from err
