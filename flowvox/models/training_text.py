"""Text -> token ids for the TTS trainers (aligned and infill), phonemes included.

A run's ``model.tokenizer`` is "char" (the prepared folder's ``vocab.txt``, or
``data.vocab``), "byte", "pinyin", or "phoneme:<language>". For phonemes the texts of the
training split and the test split are phonemised once, in the main process, with espeak-ng
(``flowvox.text.phonemize``); the vocabulary is built from that IPA unless ``data.vocab``
names one. ``TrainingText`` holds the tokenizer and the text -> IPA table and is picklable,
so DataLoader workers encode without running espeak-ng again (a text missing from the table
is phonemised on the spot).

Fine-tuning (``extended_text``) keeps a trained model's vocab as it is and appends the
symbols of the new data that it lacks: those of the vocab a fresh run would build (the
prepared ``vocab.txt``, ``data.vocab``, or the IPA of the splits), for "pinyin" the
tokens ``pinyin_tokens`` makes of the splits' texts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.models.loading import tokenizer_for
from flowvox.text import build_vocab, extend_vocab, load_vocab, phonemize
from flowvox.text.pinyin import PinyinTokenizer, pinyin_tokens
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


def split_texts(prepared: Path, splits: Sequence[str]) -> list[str]:
    """The distinct texts of the ``splits`` a prepared folder has, sorted."""
    files = [prepared / f"{split}.jsonl" for split in sorted(set(splits))]
    return sorted({e.text for f in files if f.is_file() for e in read_manifest(f)})


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
    texts = split_texts(prepared, splits)
    phonemes = dict(zip(texts, phonemize(texts, name[len(PHONEME_PREFIX) :]), strict=True))
    tokens = load_vocab(vocab) if vocab else build_vocab(phonemes.values())
    return TrainingText(CharTokenizer(tokens, name=name), phonemes)


def extended_text(
    name: str,
    prepared: str | os.PathLike,
    vocab: str | os.PathLike | None,
    splits: tuple[str, ...],
    old: CharTokenizer | ByteTokenizer,
    added: Sequence[str] | None = None,
) -> tuple[TrainingText, list[str]]:
    """The ``TrainingText`` of tokenizer ``name`` whose vocab is ``old``'s followed by the
    new data's symbols that ``old`` lacks (see the module docstring), or by ``added`` when
    given (as a checkpoint records them); and the symbols appended. Old ids never move."""
    if (name == "byte") != isinstance(old, ByteTokenizer):
        raise FlowvoxError(
            f"model.tokenizer={name!r} cannot continue a model whose tokenizer is {old.name!r}: "
            "byte ids and vocab ids do not correspond; keep the model's tokenizer"
        )
    if name == "byte":
        return TrainingText(ByteTokenizer()), []  # every byte has its row already
    prepared = Path(prepared)
    phonemes = None
    if added is None or name.startswith(PHONEME_PREFIX):
        fresh = training_text(name, prepared, vocab, splits)
        phonemes, candidates = fresh.phonemes, list(fresh.tokenizer.tokens)
        if name == "pinyin" and vocab is None:  # syllables, not the prepared characters
            texts = split_texts(prepared, splits)
            candidates = sorted({t for text in texts for t in pinyin_tokens(text)})
    tokens = extend_vocab(old.tokens, candidates if added is None else added)
    if name == "pinyin":
        tokenizer: CharTokenizer = PinyinTokenizer(tokens)
    else:
        tokenizer = CharTokenizer(tokens, name=name)
    return TrainingText(tokenizer, phonemes), tokens[len(old.tokens) :]
