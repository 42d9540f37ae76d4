"""What the TTS families' training tasks share: ``TTSTask``.

A run file's ``data`` section names a prepared folder (``PreparedDataConfig``) and its
``model`` section a preset or fields of the family's config. ``TTSTask`` reads the tokenizer
the section asks for, builds its training text over the splits that will be read (so that a
phoneme tokenizer's text -> IPA table covers them), resolves the model config against that
vocab, and exports a model folder stamped with the family (``flowvox.models.loading``) with
the vocab beside the weights (and in every checkpoint). Each family's task adds its data,
step and media.

With ``init_from: DIR`` the run starts from that model folder of the same family: its config
under the ``model`` section's changes, its vocab followed by the new data's symbols
(recorded as ``new_tokens``), its weights with grown embedding tables
(``flowvox.models.finetune``); ``build_modules`` passes its model through ``start_weights``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from flowvox.errors import FlowvoxError
from flowvox.models.finetune import StartModel, read_start
from flowvox.models.loading import (
    ModelFamily,
    PretrainedModel,
    resolve_model_section,
    section_tokenizer,
    stamp_family,
)
from flowvox.models.prepared_data import prepared_folder
from flowvox.models.training_text import extended_text, training_text
from flowvox.text.tokenizers import CharTokenizer
from flowvox.train.task import TrainTask

DEFAULT_PRESET = "tiny"  # the model of a fresh run whose model section is unset


class TTSTask(TrainTask):
    """A family's training task over a prepared folder; see the module docstring.

    Sets ``prepared`` (the folder), ``text`` (``TrainingText``), ``tokenizer``,
    ``model_config`` (the family's config, ``text_vocab_size`` filled in) and ``start`` (the
    ``init_from`` model, or None). The config has ``model``, ``data``, ``init_from``,
    ``new_tokens`` and ``new_rows``.
    """

    family: ClassVar[ModelFamily]
    export_module = "model"

    def __init__(self, config: Any, media_split: str = "test") -> None:
        super().__init__(config)
        data = config.data
        self.prepared = prepared_folder(data)
        config_class = self.family.config_class
        splits = (data.split, media_split)
        self.start: StartModel | None = None
        if config.new_tokens is not None and not config.init_from:
            raise FlowvoxError("new_tokens extends init_from's vocab; set init_from or drop it")
        if config.init_from:
            self.start = read_start(config.init_from, self.family)
            section = self.start.model_section(config.model)
            name = section_tokenizer(config_class, section)
            self.text, config.new_tokens = extended_text(
                name, self.prepared, data.vocab, splits, self.start.tokenizer, config.new_tokens
            )
        else:
            section = DEFAULT_PRESET if config.model is None else config.model
            name = section_tokenizer(config_class, section)
            self.text = training_text(name, self.prepared, data.vocab, splits)
        self.tokenizer = self.text.tokenizer
        self.model_config = resolve_model_section(config_class, section, self.tokenizer.vocab_size)

    def start_weights(self, model: PretrainedModel) -> PretrainedModel:
        """``model`` with the ``init_from`` weights (new embedding rows drawn from a generator
        seeded with the trainer's seed), or as built when the run starts fresh."""
        if self.start is not None:
            generator = torch.Generator().manual_seed(torch.initial_seed())
            model.load_state_dict(self.start.state_for(model, self.config.new_rows, generator))
        return model

    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run config with the family stamp in front."""
        return stamp_family(run_dict, self.family)

    def export_files(self, out_dir: Path) -> None:
        """The vocab beside the weights (char and phoneme tokenizers)."""
        if isinstance(self.tokenizer, CharTokenizer):
            self.tokenizer.save(Path(out_dir) / (self.model_config.vocab_file or "vocab.txt"))

    def checkpoint_files(self, folder: Path) -> None:
        """The vocab in each checkpoint too (an extended one is the run's own)."""
        self.export_files(folder)
