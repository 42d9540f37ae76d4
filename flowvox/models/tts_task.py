"""What the TTS families' training tasks share: ``TTSTask``.

A run file's ``data`` section names a prepared folder (``PreparedDataConfig``) and its
``model`` section a preset or fields of the family's config. ``TTSTask`` reads the tokenizer
the section asks for, builds its training text over the splits that will be read (so that a
phoneme tokenizer's text -> IPA table covers them), resolves the model config against that
vocab, and exports a model folder stamped with the family (``flowvox.models.loading``) with
the vocab beside the weights. Each family's task adds its data, step and media.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from flowvox.models.loading import (
    ModelFamily,
    resolve_model_section,
    section_tokenizer,
    stamp_family,
)
from flowvox.models.prepared_data import prepared_folder
from flowvox.models.training_text import training_text
from flowvox.text.tokenizers import CharTokenizer
from flowvox.train.task import TrainTask


class TTSTask(TrainTask):
    """A family's training task over a prepared folder; see the module docstring.

    Sets ``prepared`` (the folder), ``text`` (``TrainingText``), ``tokenizer`` and
    ``model_config`` (the family's config, ``text_vocab_size`` filled in).
    """

    family: ClassVar[ModelFamily]
    export_module = "model"

    def __init__(self, config: Any, media_split: str = "test") -> None:
        super().__init__(config)
        data = config.data
        self.prepared = prepared_folder(data)
        config_class = self.family.config_class
        name = section_tokenizer(config_class, config.model)
        self.text = training_text(name, self.prepared, data.vocab, (data.split, media_split))
        self.tokenizer = self.text.tokenizer
        self.model_config = resolve_model_section(
            config_class, config.model, self.tokenizer.vocab_size
        )

    def export_config(self, run_dict: dict[str, Any]) -> dict[str, Any]:
        """The run config with the family stamp in front."""
        return stamp_family(run_dict, self.family)

    def export_files(self, out_dir: Path) -> None:
        """The vocab beside the weights (char and phoneme tokenizers)."""
        if isinstance(self.tokenizer, CharTokenizer):
            self.tokenizer.save(Path(out_dir) / (self.model_config.vocab_file or "vocab.txt"))
