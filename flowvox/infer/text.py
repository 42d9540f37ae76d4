"""Text to speak: normalise, check against the vocab, cut into chunks, tokenize.

A chunk is spoken after the reference's transcript, so its token ids are those of
``ref_text + chunk`` (F5 prepends the prompt's words). Phoneme models
(tokenizer ``"phoneme:<language>"``) get that string as espeak-ng IPA first.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator

from flowvox.errors import FlowvoxError
from flowvox.text import iter_chunks, normalize_text
from flowvox.text.phonemes import (
    ForeignScriptWarning,
    foreign_letters,
    language_script,
    phonemize,
    readable,
)
from flowvox.text.tokenizers import Tokenizer

PHONEME_PREFIX = "phoneme:"


def text_language(tokenizer: Tokenizer, language: str | None) -> str:
    """The normalisation language: ``language`` if given, else a phoneme model's, else "en"."""
    if language:
        return language
    name = getattr(tokenizer, "name", "")
    return name[len(PHONEME_PREFIX) :] if name.startswith(PHONEME_PREFIX) else "en"


def prepare_text(text: str, tokenizer: Tokenizer, language: str, normalize: bool = True) -> str:
    """Normalised text, refused when empty or made only of characters the vocab lacks.

    Raises ``FlowvoxError`` naming the unknown characters (up to 20) and the fix.
    """
    if not isinstance(text, str):
        raise FlowvoxError(f"text must be a string, got {type(text).__name__}")
    clean = normalize_text(text, language) if normalize else " ".join(text.split())
    if not clean:
        raise FlowvoxError("text is empty; give some words to speak")
    check_known(clean, tokenizer)
    return clean


def check_known(text: str, tokenizer: Tokenizer) -> None:
    """``FlowvoxError`` when every non-space character of ``text`` is outside the vocab, or,
    for a phoneme model, when ``text`` has letters of another script and nothing the model's
    language reads (those letters alone: a ``ForeignScriptWarning`` naming them)."""
    name = getattr(tokenizer, "name", "")
    if name.startswith(PHONEME_PREFIX):
        check_script(text, name[len(PHONEME_PREFIX) :])
        return  # IPA is checked after phonemisation, by the tokenizer's own policy
    if tokenizer.all_unknown(text):
        unknown = tokenizer.unknown_chars(text)
        shown = ", ".join(repr(c) for c in unknown[:20]) + (" ..." if len(unknown) > 20 else "")
        raise FlowvoxError(
            f"text holds no character this model knows ({shown}); write it in the model's "
            "language and script, or use a model whose vocab.txt has these characters"
        )


def check_script(text: str, language: str) -> None:
    """Letters outside ``language``'s script, which espeak-ng would spell out by name: a
    ``ForeignScriptWarning`` naming them, or ``FlowvoxError`` when nothing else is readable."""
    foreign = foreign_letters(text, language)
    if not foreign:
        return
    shown = ", ".join(repr(c) for c in foreign[:20]) + (" ..." if len(foreign) > 20 else "")
    script = language_script(language)
    if not readable(text, language):
        raise FlowvoxError(
            f"text holds nothing this {language} phoneme model can read ({shown}: not "
            f"{script} script, espeak-ng would spell them out); write the text in {language}, "
            "or use a model for its language"
        )
    warnings.warn(
        f"{len(foreign)} character(s) outside the {language} phoneme model's {script} script "
        f"are spelled out by espeak-ng, not read: {shown}",
        ForeignScriptWarning,
        stacklevel=2,
    )


def iter_text_chunks(
    text: str | Iterable[str],
    max_bytes: int,
    tokenizer: Tokenizer,
    language: str,
    normalize: bool = True,
) -> Iterator[str]:
    """Chunks of at most ``max_bytes`` UTF-8 bytes, cut at sentence/clause marks, lazily.

    ``text`` may be a string or an iterable of pieces (an open file: lines); each piece is
    normalised on its own and pieces are joined by a space. Only the current chunk is held.
    A string is checked as a whole (empty / unknown script) at once, before this returns;
    pieces are checked chunk by chunk as they come. ``FlowvoxError`` when no chunk comes out.
    """
    if isinstance(text, str):
        return _checked_chunks((prepare_text(text, tokenizer, language, normalize),), max_bytes)
    pieces = _normalised_pieces(text, language, normalize)
    return _checked_chunks(pieces, max_bytes, tokenizer)


def _checked_chunks(
    pieces: Iterable[str], max_bytes: int, tokenizer: Tokenizer | None = None
) -> Iterator[str]:
    count = 0
    for chunk in iter_chunks(pieces, max_bytes, unit="bytes"):
        if tokenizer is not None:
            check_known(chunk, tokenizer)
        count += 1
        yield chunk
    if count == 0:
        raise FlowvoxError("text is empty; give some words to speak")


def _normalised_pieces(pieces: Iterable[str], language: str, normalize: bool) -> Iterator[str]:
    for piece in pieces:
        if not isinstance(piece, str):
            raise FlowvoxError(f"text pieces must be strings, got {type(piece).__name__}")
        clean = normalize_text(piece, language) if normalize else " ".join(piece.split())
        if clean:
            yield clean + " "


def token_ids(ref_text: str, chunk: str, tokenizer: Tokenizer) -> list[int]:
    """Ids of ``ref_text + chunk`` (phonemised first for phoneme models); never empty."""
    full = ref_text + chunk
    name = getattr(tokenizer, "name", "")
    if name.startswith(PHONEME_PREFIX):
        full = phonemize([full], name[len(PHONEME_PREFIX) :])[0]
    return tokenizer.encode(full) or [0]
