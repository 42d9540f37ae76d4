"""Vocabulary files in the F5-TTS format: one token per line, line index = token id.

Line 0 is a single space " ". A token may itself be whitespace-like (a no-break space,
U+2028, a zero-width character...), so lines are split on "\\n" only and never stripped.
Files are UTF-8 and end with one "\\n". A file whose every line ends in "\\r" (Windows line
endings) is read as if it had "\\n" endings; "\\n" itself can never be a token.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_path


def load_vocab(path: str | os.PathLike) -> list[str]:
    """Read a vocab file; returns the tokens, index = id.

    Raises FlowvoxError for a missing or empty file, a file that is not UTF-8, an empty
    line inside the file, or a token listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"vocab file {str(path)!r} not found: pass the path of a vocab.txt")
    try:
        text = path.read_bytes().decode("utf-8")  # bytes, so no newline translation
    except UnicodeDecodeError as err:
        raise FlowvoxError(
            f"vocab file {str(path)!r} is not UTF-8 ({err}): re-save it as UTF-8"
        ) from err
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise FlowvoxError(f"vocab file {str(path)!r} is empty: it needs one token per line")
    if all(line.endswith("\r") for line in lines):
        lines = [line[:-1] for line in lines]  # CRLF file
    validate_vocab(lines, source=f"vocab file {str(path)!r}")
    return lines


def save_vocab(tokens: Iterable[str], path: str | os.PathLike) -> None:
    """Write tokens one per line (UTF-8, "\\n" endings), atomically (temp file + os.replace)."""
    tokens = list(tokens)
    validate_vocab(tokens, source="save_vocab tokens")
    with atomic_path(path) as tmp:
        tmp.write_bytes("".join(token + "\n" for token in tokens).encode("utf-8"))


def build_vocab(texts: Iterable[str]) -> list[str]:
    """Character vocab over ``texts``: " " first (id 0), then every other character, sorted.

    "\\n" is left out (it cannot be stored in a vocab file); normalise line breaks to
    spaces before encoding. Works on any iterable, so a corpus can stream through it.
    """
    chars: set[str] = set()
    for text in texts:
        chars.update(text)
    chars.discard(" ")
    chars.discard("\n")
    return [" ", *sorted(chars)]


def extend_vocab(old: Iterable[str], candidates: Iterable[str]) -> list[str]:
    """``old`` unchanged (every id kept), then each token of ``candidates`` that ``old``
    lacks, in ``candidates``' order, once (fine-tuning to a new language's symbols)."""
    tokens = list(old)
    known = set(tokens)
    for token in candidates:
        if token not in known:
            tokens.append(token)
            known.add(token)
    return tokens


def validate_vocab(tokens: list[str], source: str = "vocab") -> None:
    """Check a token list; raise FlowvoxError (message starts with ``source``) for no
    tokens, an empty token, a token holding "\\n", or a token listed twice."""
    if not tokens:
        raise FlowvoxError(f"{source}: no tokens; a vocab needs at least the space token")
    first_line: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token == "":
            raise FlowvoxError(f"{source}: line {i} is empty; every line must hold one token")
        if "\n" in token:
            raise FlowvoxError(f"{source}: token {i} {token!r} contains a newline")
        if token in first_line:
            raise FlowvoxError(
                f"{source}: token {token!r} has ids {first_line[token]} and {i}; "
                "remove the duplicate"
            )
        first_line[token] = i
