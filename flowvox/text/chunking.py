"""Split long text into chunks under a length limit, at the most natural boundary available.

Boundaries, strongest first:

1. sentence ends: ``. ! ? …`` followed by whitespace or the end, and ``。！？`` anywhere;
   closing quotes and brackets right after the mark stay with it (``"Hi." She`` ...);
2. clause marks: ``, ; :`` followed by whitespace or the end, and ``，；：`` anywhere;
3. spaces;
4. inside a word: only a word longer than the limit is cut, into its longest prefixes
   that fit.

A sentence that fits the limit stays whole; one that does not is cut into its clauses, a
clause that does not fit into its words, a word that does not fit into prefixes. These
pieces are then packed greedily in order: a chunk takes the next piece while it fits.

Length is measured in UTF-8 bytes by default, as F5-TTS measures its ``max_chars`` (so a
Chinese character counts 3), or in characters with ``unit="chars"``. Whitespace inside a
chunk is collapsed to one space and every chunk is stripped; the limit applies to the
returned strings. Non-space characters are never lost, duplicated or reordered.

:func:`iter_chunks` takes a string or any iterable of strings (an open file, a socket
reader) and yields each chunk once it is final, holding about one chunk, the current
sentence and the current word (each at most about ``max_chars``): memory stays bounded on
unbounded input, except for an unbounded run of CJK marks and closing brackets.
Both functions are linear in the input length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, NamedTuple

from flowvox.errors import FlowvoxError

Unit = Literal["bytes", "chars"]

SENTENCE_MARKS = ".!?…。！？"
CLAUSE_MARKS = ",;:，；："
CJK_MARKS = "。！？，；："  # break without a following space
CLOSERS = "\"'”’)]}»」』）》】〉"

# An atom: a run of non-space text, cut after a run of CJK marks (and closers after them).
_MARK_CLASS = "[" + re.escape(CJK_MARKS) + "]"
_CLOSER_CLASS = "[" + re.escape(CLOSERS) + "]"
_ATOM = re.compile(
    rf"[^\s{re.escape(CJK_MARKS)}]+(?:{_MARK_CLASS}+{_CLOSER_CLASS}*)?|{_MARK_CLASS}+{_CLOSER_CLASS}*"
)
_HEAD = re.compile(rf"[^\s{re.escape(CJK_MARKS)}]*")

SENTENCE, CLAUSE, WORD, FRAGMENT = 3, 2, 1, 0  # strength of the boundary after an atom


class _Piece(NamedTuple):
    text: str
    size: int
    space_before: bool  # whitespace separated it from the previous piece
    level: int = WORD  # boundary after it (atoms only)


def chunk_text(text: str, max_chars: int, unit: Unit = "bytes") -> list[str]:
    """Split ``text`` into chunks of at most ``max_chars`` (bytes or chars); see the module."""
    return list(iter_chunks(text, max_chars, unit))


def iter_chunks(text: str | Iterable[str], max_chars: int, unit: Unit = "bytes") -> Iterator[str]:
    """Yield the chunks of ``text`` (a string or an iterable of string pieces) one by one.

    Splitting the input into pieces anywhere gives the same chunks as the joined string.
    """
    if unit not in ("bytes", "chars"):
        raise FlowvoxError(f"unit={unit!r} is not a length unit; use 'bytes' or 'chars'")
    limit = int(max_chars)
    smallest = 4 if unit == "bytes" else 1  # one UTF-8 character can take 4 bytes
    if limit < smallest:
        raise FlowvoxError(f"max_chars={max_chars} is too small; use at least {smallest} ({unit})")
    size = _utf8_size if unit == "bytes" else len
    pieces = (text,) if isinstance(text, str) else text
    return _pack(_units(_atoms(pieces, limit, size), limit), limit)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def _level(atom: str) -> int:
    """Boundary strength after an atom, from its last mark (closers skipped)."""
    core = atom.rstrip(CLOSERS)
    if core and core[-1] in SENTENCE_MARKS:
        return SENTENCE
    if core and core[-1] in CLAUSE_MARKS:
        return CLAUSE
    return WORD


def _fit(text: str, limit: int, size: Callable[[str], int]) -> int:
    """Length of the longest prefix of ``text`` whose size is at most ``limit`` (>= 1 char)."""
    if size is len:
        return min(limit, len(text))
    total = 0
    for i, char in enumerate(text):
        total += size(char)
        if total > limit:
            return i
    return len(text)


def _fragments(piece: _Piece, limit: int, size: Callable[[str], int]) -> Iterator[_Piece]:
    """Cut an atom longer than ``limit`` into longest fitting prefixes; only the last keeps
    the atom's boundary level."""
    text, space_before = piece.text, piece.space_before
    while piece.size > limit:
        cut = _fit(text, limit, size)
        head, text = text[:cut], text[cut:]
        yield _Piece(head, size(head), space_before, FRAGMENT)
        space_before = False
        piece = _Piece(text, size(text), False, piece.level)
    yield piece._replace(space_before=space_before)


def _atoms(pieces: Iterable[str], limit: int, size: Callable[[str], int]) -> Iterator[_Piece]:
    """Atoms of the concatenated pieces, longer ones already cut to fit ``limit``."""
    buffer = ""  # starts right after the last atom emitted
    for piece in pieces:
        buffer += piece
        consumed = 0
        for m in _ATOM.finditer(buffer):
            if m.end() == len(buffer):
                break  # may continue in the next piece
            atom = _Piece(m.group(), size(m.group()), m.start() > consumed, _level(m.group()))
            yield from _fragments(atom, limit, size)
            consumed = m.end()
        buffer = buffer[consumed:]
        rest = buffer.lstrip()
        if len(rest) < len(buffer):
            buffer = " " + rest  # one space records "whitespace came before"
        # Bound memory on a long run without spaces: its leading part before any CJK mark
        # is cut exactly as the whole word would be, so emit those prefixes now.
        start = len(buffer) - len(buffer.lstrip())
        head = _HEAD.match(buffer, start).group()
        head_size = size(head)
        while head_size > limit:
            cut = _fit(head, limit, size)
            yield _Piece(head[:cut], size(head[:cut]), start > 0, FRAGMENT)
            head, buffer, start = head[cut:], buffer[start + cut :], 0
            head_size = size(head)
    consumed = 0
    for m in _ATOM.finditer(buffer):
        atom = _Piece(m.group(), size(m.group()), m.start() > consumed, _level(m.group()))
        yield from _fragments(atom, limit, size)
        consumed = m.end()


def _join(pieces: list[_Piece]) -> _Piece:
    """One piece from consecutive pieces, a space where the text had whitespace."""
    parts = [pieces[0].text]
    total = pieces[0].size
    for p in pieces[1:]:
        parts.append(" " + p.text if p.space_before else p.text)
        total += p.size + p.space_before
    return _Piece("".join(parts), total, pieces[0].space_before, pieces[-1].level)


class _Group:
    """Consecutive atoms held back until they end or outgrow the limit; size kept running."""

    def __init__(self) -> None:
        self.atoms: list[_Piece] = []
        self.size = 0

    def add(self, atom: _Piece) -> None:
        self.size += atom.size + (atom.space_before and bool(self.atoms))
        self.atoms.append(atom)

    def take(self) -> list[_Piece]:
        atoms, self.atoms, self.size = self.atoms, [], 0
        return atoms


def _units(atoms: Iterable[_Piece], limit: int) -> Iterator[_Piece]:
    """Whole sentences that fit; else their clauses that fit; else their atoms.

    Streaming: a sentence (clause) is held back only until it ends or outgrows ``limit``;
    once it has outgrown it, its remaining atoms pass straight to the clause (atom) level.
    """
    sentence, clause = _Group(), _Group()
    sentence_too_long = clause_too_long = False

    def to_clause(atom: _Piece) -> Iterator[_Piece]:
        nonlocal clause_too_long
        if clause_too_long:
            yield atom
        else:
            clause.add(atom)
            if clause.size > limit:
                clause_too_long = True
                yield from clause.take()
            elif atom.level >= CLAUSE:
                yield _join(clause.take())
        if atom.level >= CLAUSE:
            clause_too_long = False

    for atom in atoms:
        if sentence_too_long:
            yield from to_clause(atom)
        else:
            sentence.add(atom)
            if sentence.size > limit:
                sentence_too_long = True
                for held in sentence.take():
                    yield from to_clause(held)
            elif atom.level == SENTENCE:
                yield _join(sentence.take())
        if atom.level == SENTENCE:
            sentence_too_long = False
    if sentence.atoms:
        yield _join(sentence.take())
    if clause.atoms:
        yield _join(clause.take())


def _pack(units: Iterable[_Piece], limit: int) -> Iterator[str]:
    """Greedy packing: a chunk takes the next unit while the joined size stays <= limit."""
    parts: list[str] = []
    total = 0
    for unit in units:
        added = unit.size + (unit.space_before and bool(parts))
        if parts and total + added > limit:
            yield "".join(parts)
            parts, total, added = [], 0, unit.size
        parts.append(" " + unit.text if unit.space_before and parts else unit.text)
        total += added
    if parts:
        yield "".join(parts)
