"""Folders of the text-to-semantic families (``t2s_fm``, ``t2s_ar``) and of the
semantic-to-acoustic model (``s2a``): the model folder with a copy of the frozen semantic
tokenizer whose codes it writes or reads, as ``tokenizer/``; ``t2s_family`` reads a
folder's stamp."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.models.loading import CONFIG_FILE, FAMILY_KEY, read_config_json, save_model_dir
from flowvox.utils.atomic import atomic_folder

TOKENIZER_DIR = "tokenizer"  # the frozen tokenizer's folder inside a T2S model folder


def save_t2s_folder(
    model: nn.Module,
    folder: str | os.PathLike,
    tokenizer: str | os.PathLike | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``model`` as a new folder (atomically; byte text, so no vocab) with a copy of
    the ``tokenizer`` model folder inside it as ``tokenizer/`` when given."""
    with atomic_folder(folder) as tmp:
        save_model_dir(tmp, model, None, extra)
        if tokenizer is not None:
            shutil.copytree(tokenizer, tmp / TOKENIZER_DIR)
    return Path(folder)


def tokenizer_folder(model: str | os.PathLike, tokenizer: str | os.PathLike | None) -> Path:
    """The tokenizer folder for the T2S model folder ``model``: ``tokenizer`` when given,
    else the model's own ``tokenizer/`` (a one-line error when it has none)."""
    if tokenizer is not None:
        return Path(tokenizer)
    folder = Path(model) / TOKENIZER_DIR
    if not folder.is_dir():
        raise FlowvoxError(
            f"{model}: no {TOKENIZER_DIR}/ folder inside; pass the semantic tokenizer the "
            "model was trained with as --tokenizer DIR"
        )
    return folder


def t2s_family(model: str | os.PathLike) -> str | None:
    """The family stamp of the model folder ``model`` ("t2s_fm", "t2s_ar", another), or
    None when it has no readable stamp (its loader then names the problem)."""
    path = Path(model) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        family = read_config_json(path).get(FAMILY_KEY)
    except FlowvoxError:
        return None
    return family if isinstance(family, str) else None
