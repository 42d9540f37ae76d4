"""Starting a TTS training run from a trained model folder, its vocab extended (fine-tuning).

A run file of ``aligned_tts``, ``fastpitch`` or ``infill_tts`` may name ``init_from: DIR``, a
model folder of the same family (an export of ``flowvox train``, ``save_pretrained``, or
``flowvox convert f5``). The run then

1. reads that folder's config and vocab (another family, or a folder without its vocab, is a
   one-line error);
2. takes its model config, the run's ``model`` section only changing fields (``model`` unset:
   the folder's config as it is; a mapping of fields: those fields over it; a preset name or
   a mapping with ``preset``: that, as in a fresh run);
3. keeps its vocab and appends the new data's symbols it lacks (``extended_text``), so an old
   token keeps its id; the appended symbols are recorded in the run's ``new_tokens``;
4. starts from its weights, each text-embedding table (``PretrainedModel.token_rows``) grown
   by one row per new symbol (``grow_token_rows``); every other tensor must fit exactly, so
   another architecture (dim, depth, backbone) is a one-line error naming the tensors;
5. when the run adds a speaker vector (the run's ``cond_dim`` > 0, the folder's 0: e.g.
   ``model: {cond_dim: 256}`` over the bundled voice), starts the weights the condition adds
   (``speaker_weights``: every projection W g + b of the vector g, in the aligned family's
   encoder and decoder and the infilling backbones) at W = 0, b = 0. The reverse, dropping a
   speaker vector the folder's model was trained with, is a one-line error.

Before any training step, text made of old tokens gives exactly the old model's outputs, for
any speaker vector g: each projection adds 0 until training moves it, and its gradient
(dL/dW = dL/dy g^T, dL/db = dL/dy) is not 0, so it learns from the first step.

New rows (``new_rows``), drawn from a ``torch.Generator``:

- "matched" (default): each channel ~ N(mean, std²) of that channel over the old token rows,
  so new rows have the scale training gave the old ones, in any family;
- "normal": N(0, 1), what F5-TTS's fine-tuning does (``expand_model_embeddings``); that is
  F5's own initial scale, ~10× what an aligned model's rows have (N(0, 1/dim) at start).
"""
# r: table rows, c: embedding channels, k: new rows

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.models.loading import (
    WEIGHTS_FILE,
    ModelFamily,
    PretrainedModel,
    model_folder,
    read_model_dir,
    read_weights,
)
from flowvox.nn.state_dict import check_state_dict
from flowvox.text.tokenizers import ByteTokenizer, CharTokenizer

NewRows = Literal["matched", "normal"]


@dataclass(frozen=True)
class StartModel:
    """The model folder a run starts from: its config (the family's) and tokenizer."""

    folder: Path
    config: Any
    tokenizer: CharTokenizer | ByteTokenizer

    def model_section(self, model: str | Mapping[str, Any] | None) -> str | dict[str, Any]:
        """The run's ``model`` section resolved against this model (see the module docstring);
        ``text_vocab_size`` is left to the extended vocab."""
        if isinstance(model, str) or (model is not None and "preset" in model):
            return model
        base = {k: v for k, v in self.config.to_dict().items() if k != "text_vocab_size"}
        return {**base, **(model or {})}

    def state_for(
        self, model: PretrainedModel, new_rows: NewRows, generator: torch.Generator
    ) -> dict[str, Tensor]:
        """This folder's weights grown to ``model``'s vocab (and speaker condition), checked
        to fit ``model``."""
        had, has = (getattr(c, "cond_dim", 0) for c in (self.config, model.config))
        if had and not has:
            raise FlowvoxError(
                f"init_from={self.folder} has a speaker vector (cond_dim={had}) that the run's "
                "model drops (cond_dim=0), and a model cannot start without a condition it was "
                f"trained with; set model.cond_dim={had}"
            )
        state = read_weights(self.folder)
        if has and not had:
            state.update(speaker_weights(model))
        old, new = self.tokenizer.vocab_size, model.config.text_vocab_size
        if new != old:
            for key, first in model.token_rows.items():
                if key in state:
                    state[key] = grow_token_rows(state[key], first, old, new, new_rows, generator)
        check_state_dict(
            model, state, f"init_from={self.folder} ({WEIGHTS_FILE})",
            fix="init_from needs a model of the same architecture; drop the model fields "
            "that change its shape (or leave model unset to take the folder's)",
        )  # fmt: skip
        return state


def read_start(folder: str | os.PathLike, family: ModelFamily) -> StartModel:
    """The ``StartModel`` of ``folder``; a one-line ``FlowvoxError`` when it is not a model
    folder of ``family`` with its vocab."""
    try:
        path = model_folder(folder)
        config, tokenizer = read_model_dir(path, family)
    except FlowvoxError as err:
        raise FlowvoxError(f"init_from={folder}: {err}") from err
    return StartModel(path, config, tokenizer)


def speaker_weights(model: PretrainedModel) -> dict[str, Tensor]:
    """Zeros for every tensor of ``model`` that its speaker condition (``cond_dim`` > 0) adds,
    found as the keys the same model with ``cond_dim`` 0 lacks (built on the meta device: no
    memory, no random draws). Each of them is a projection W g + b of the speaker vector g
    added to a hidden state, so zeros make the model compute what it did without them."""
    with torch.device("meta"):
        without = type(model)(model.config.replace(cond_dim=0)).state_dict().keys()
    own = model.state_dict()
    return {k: torch.zeros_like(v, device="cpu") for k, v in own.items() if k not in without}


def grow_token_rows(
    table: Tensor,
    first: int,
    old_vocab: int,
    new_vocab: int,
    new_rows: NewRows,
    generator: torch.Generator,
) -> Tensor:
    """An embedding table (r, c) for ``new_vocab`` tokens from one for ``old_vocab``.

    Rows of ``table``: ``first`` special rows, the ``old_vocab`` token rows, then any trailing
    rows (a blank). Result: the same special and token rows, k = new_vocab - old_vocab new
    rows, the trailing rows: (r + k, c). New rows: see the module docstring.
    """
    k, end = new_vocab - old_vocab, first + old_vocab
    if k < 0 or table.ndim != 2 or table.shape[0] < end:
        raise FlowvoxError(
            f"an embedding table of shape {tuple(table.shape)} cannot hold {old_vocab} tokens "
            f"from row {first} and grow to {new_vocab}; use the vocab saved with the model"
        )
    tokens = table[first:end].double()  # (old_vocab, c)
    draw = torch.randn(k, table.shape[1], generator=generator, dtype=torch.float64)  # (k, c)
    if new_rows == "matched":
        draw = tokens.mean(0) + tokens.std(0, correction=0) * draw
    elif new_rows != "normal":
        raise FlowvoxError(f"new_rows={new_rows!r}: use 'matched' or 'normal'")
    return torch.cat([table[:end], draw.to(table.dtype), table[end:]])  # (r + k, c)
