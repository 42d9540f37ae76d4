"""Tokenizers: text to integer ids and back.

Two kinds, both satisfying the :class:`Tokenizer` protocol:

- :class:`CharTokenizer`: one id per character, from an F5-TTS style vocab (see
  :mod:`flowvox.text.vocab`; id 0 is the space). Phoneme strings use the same class: build
  the vocab over IPA strings with ``build_vocab(phonemize(texts, language))``.
- :class:`ByteTokenizer`: the 256 UTF-8 byte values, no vocab file, nothing is unknown.

Unknown characters (CharTokenizer), policy chosen at construction:

- ``"space"`` (default, what F5-TTS does): each unknown character becomes id 0, the space.
- ``"drop"``: unknown characters are removed.
- ``"error"``: ``encode`` raises FlowvoxError naming them.

Under ``"space"`` and ``"drop"``, an ``encode`` call that meets unknown characters issues
exactly one :class:`UnknownCharacterWarning` naming them (sorted, each repr'd).
Whitespace never makes a text "carry content": :meth:`CharTokenizer.all_unknown` is true
when a text has at least one non-whitespace character and all of them are unknown.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol, runtime_checkable

from flowvox.errors import FlowvoxError
from flowvox.text.vocab import load_vocab, save_vocab, validate_vocab

UnknownPolicy = Literal["space", "drop", "error"]
UNKNOWN_POLICIES: tuple[str, ...] = ("space", "drop", "error")


class UnknownCharacterWarning(UserWarning):
    """Text held characters that the vocab lacks (they were mapped to the space or dropped)."""


@runtime_checkable
class Tokenizer(Protocol):
    """What every tokenizer offers. ``vocab_size`` ids run 0 .. vocab_size - 1."""

    @property
    def name(self) -> str: ...

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def unknown_chars(self, text: str) -> list[str]: ...

    def all_unknown(self, text: str) -> bool: ...


class CharTokenizer:
    """One id per character; the id of a token is its index in ``tokens`` (``tokens[0]`` is " ").

    Tokens longer than one character (F5's pinyin syllables such as "zhong1") keep their ids,
    so an official vocab loads unchanged; ``encode`` never produces them from raw text, but
    :meth:`encode_tokens` does from a pre-split token list.
    """

    def __init__(
        self, tokens: Sequence[str], unknown: UnknownPolicy = "space", name: str = "char"
    ) -> None:
        tokens = list(tokens)
        validate_vocab(tokens, source=f"tokenizer {name!r}")
        if tokens[0] != " ":
            raise FlowvoxError(
                f"tokenizer {name!r}: token 0 is {tokens[0]!r} but must be the space ' ' "
                "(F5 vocab format); rebuild the vocab with build_vocab"
            )
        if unknown not in UNKNOWN_POLICIES:
            raise FlowvoxError(
                f"unknown={unknown!r} is not a policy for unknown characters; "
                f"use one of {', '.join(UNKNOWN_POLICIES)}"
            )
        self._tokens = tuple(tokens)
        self._ids = {token: i for i, token in enumerate(tokens)}
        self._name = name
        self.unknown: UnknownPolicy = unknown

    @classmethod
    def from_file(
        cls, path: str | os.PathLike, unknown: UnknownPolicy = "space", name: str = "char"
    ) -> CharTokenizer:
        """Load a vocab.txt (see :func:`flowvox.text.vocab.load_vocab`)."""
        return cls(load_vocab(path), unknown=unknown, name=name)

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocab to ``path`` in the F5 format, atomically."""
        save_vocab(self._tokens, path)

    @property
    def name(self) -> str:
        return self._name

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._tokens

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; unknown characters follow ``self.unknown``."""
        return self._encode(text, what="character", stacklevel=3)

    def encode_tokens(self, tokens: Iterable[str]) -> list[int]:
        """Ids of pre-split tokens (e.g. pinyin syllables); unknown ones follow ``self.unknown``."""
        return self._encode(tokens, what="token", stacklevel=3)

    def decode(self, ids: Sequence[int]) -> str:
        """Concatenate the tokens of ``ids``; an id outside 0 .. vocab_size - 1 is an error."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self._tokens):
                raise FlowvoxError(
                    f"id {i} is outside the {self._name!r} vocab (0 .. {len(self._tokens) - 1}); "
                    "decode ids made by the same vocab"
                )
            out.append(self._tokens[i])
        return "".join(out)

    def unknown_chars(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that the vocab lacks, sorted."""
        return sorted({c for c in text if c not in self._ids})

    def all_unknown(self, text: str) -> bool:
        """True when ``text`` has a non-whitespace character and none of those is in the vocab."""
        content = [c for c in text if not c.isspace()]
        return bool(content) and all(c not in self._ids for c in content)

    def _encode(self, items: Iterable[str], what: str, stacklevel: int) -> list[int]:
        items = items if isinstance(items, str) else list(items)
        ids = [self._ids.get(item, -1) for item in items]  # -1 marks unknown
        if -1 not in ids:
            return ids
        unknown = sorted({item for item, i in zip(items, ids, strict=True) if i == -1})
        names = ", ".join(repr(u) for u in unknown)
        if self.unknown == "error":
            raise FlowvoxError(
                f"text has {what}s not in the {self._name!r} vocab: {names}; add them to the "
                "vocab (build_vocab over your corpus) or choose unknown='space' or 'drop'"
            )
        action = "mapped to the space (id 0)" if self.unknown == "space" else "dropped"
        warnings.warn(
            f"{len(unknown)} unknown {what}(s) for the {self._name!r} vocab {action}: {names}",
            UnknownCharacterWarning,
            stacklevel=stacklevel,
        )
        if self.unknown == "space":
            return [0 if i == -1 else i for i in ids]
        return [i for i in ids if i != -1]


class ByteTokenizer:
    """UTF-8 bytes as ids (vocab_size 256). Nothing is unknown; no vocab file.

    ``decode`` replaces byte sequences that are not valid UTF-8 with U+FFFD, since ids
    sampled from a model need not form whole characters.
    """

    def __init__(self, name: str = "byte") -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def vocab_size(self) -> int:
        return 256

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of ``text``, each an id in 0 .. 255."""
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        """Bytes back to text; invalid UTF-8 becomes U+FFFD."""
        values = [int(i) for i in ids]
        bad = [i for i in values if not 0 <= i < 256]
        if bad:
            raise FlowvoxError(
                f"ids {bad[:5]} are not bytes (0 .. 255); decode ids made by a ByteTokenizer"
            )
        return bytes(values).decode("utf-8", errors="replace")

    def unknown_chars(self, text: str) -> list[str]:
        """Always empty: every character has a UTF-8 encoding."""
        return []

    def all_unknown(self, text: str) -> bool:
        """Always False: every character has a UTF-8 encoding."""
        return False
