"""Text -> token ids for the TTS trainers (aligned and infill), phonemes included.

A run's ``model.tokenizer`` is "char" (the prepared folder's ``vocab.txt``, or
``data.vocab``), "byte", "pinyin", or "phoneme:<language>". For phonemes the texts of the
training split and the test split are phonemised once, in the main process, with espeak-ng
(``flowvox.text.phonemize``); the vocabulary is built from that IPA unless ``data.vocab``
names one. ``TrainingText`` holds the tokenizer and the text -> IPA table and is picklable,
so DataLoader workers encode without running espeak-ng again (a text missing from the table
is phonemised on the spot).
"""

from __future__ import annotations

import os
from pathlib import Path

from flowvox.data.manifest import read_manifest
from flowvox.models.loading import tokenizer_for
from flowvox.text import build_vocab, load_vocab, phonemize
from flowvox.text.tokenizers import ByteTokenizer, CharTokenizer

PHONEME_PREFIX = "phoneme:"


class TrainingText:
    """``encode(text)``: the tokenizer's ids of ``text`` (of its IPA for phoneme tokenizers)."""

    def __init__(self, tokenizer: CharTokenizer | ByteTokenizer, phonemes: dict | None = None):
        self.tokenizer, self.phonemes = tokenizer, phonemes

    def encode(self, text: str) -> list[int]:
        if self.phonemes is not None:
            language = self.tokenizer.name[len(PHONEME_PREFIX) :]
            text = self.phonemes.get(text) or phonemize([text], language)[0]
        return self.tokenizer.encode(text)


def training_text(
    name: str,
    prepared: str | os.PathLike,
    vocab: str | os.PathLike | None,
    splits: tuple[str, ...],
) -> TrainingText:
    """The ``TrainingText`` of tokenizer ``name`` for the ``splits`` of a prepared folder."""
    prepared = Path(prepared)
    if not name.startswith(PHONEME_PREFIX):
        path = None if name == "byte" else Path(vocab or prepared / "vocab.txt")
        return TrainingText(tokenizer_for(name, path))
    files = [prepared / f"{split}.jsonl" for split in sorted(set(splits))]
    texts = sorted({e.text for f in files if f.is_file() for e in read_manifest(f)})
    phonemes = dict(zip(texts, phonemize(texts, name[len(PHONEME_PREFIX) :]), strict=True))
    tokens = load_vocab(vocab) if vocab else build_vocab(phonemes.values())
    return TrainingText(CharTokenizer(tokens, name=name), phonemes)
