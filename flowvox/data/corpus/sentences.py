"""Text for the synthetic corpus: cleaned sentences from Debian packages, and the held-out rule.

English: the example sentences inside WordNet glosses (Debian ``wordnet-base``, files
``/usr/share/wordnet/data.{noun,verb,adj,adv}``; WordNet 3.0 licence, BSD-style).
Spanish: the fortunes of Debian ``fortunes-es`` (``/usr/share/games/fortunes/es/*.fortunes``,
quotes and proverbs presumed public domain; the offensive ``off/`` section is not used).

Each sentence is kept when it has 6-20 words and only ordinary letters and punctuation
(no digits, brackets, symbols or ellipses); duplicates (compared case- and
punctuation-blind) are dropped and the list is sorted, so a sentence's index is stable.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from flowvox.errors import FlowvoxError

MIN_WORDS, MAX_WORDS = 6, 20
HELD_OUT_PER_10K = 200  # 2 % of sentences are held out of training
WORDNET_DIR = Path("/usr/share/wordnet")
FORTUNES_ES_DIR = Path("/usr/share/games/fortunes/es")

_ENGLISH_OK = re.compile(r"[A-Za-z][A-Za-z ,.'?!;:-]*")
_SPANISH_OK = re.compile(r"[¿¡A-Za-zÁÉÍÓÚÜÑáéíóúüñ][A-Za-zÁÉÍÓÚÜÑáéíóúüñ ,.'?!¿¡;:-]*")


@dataclass(frozen=True)
class TextSource:
    """The sentences one language's voices speak, with where they come from."""

    language: str
    name: str  # "WordNet 3.0 examples"
    package: str  # Debian package holding the text
    licence: str
    licence_file: str  # file name shipped in this package and copied into the corpus
    sentences: list[str]


def normalize_sentence(sentence: str) -> str:
    """Lower-case word characters separated by single spaces: the key for dedupe and hashing."""
    return " ".join(re.sub(r"[^\w]+", " ", sentence.lower()).split())


def is_held_out(sentence: str) -> bool:
    """True for the ~2 % of sentences that training must never see.

    The rule depends only on the sentence: sha256 of ``normalize_sentence(sentence)``, first
    8 bytes as an integer, modulo 10000, below ``HELD_OUT_PER_10K``. Seed, voice set and
    corpus size do not change it.
    """
    digest = hashlib.sha256(normalize_sentence(sentence).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < HELD_OUT_PER_10K


def text_source(language: str) -> TextSource:
    """The text for ``language`` ("en" or "es"); ``FlowvoxError`` naming the package if missing."""
    if language == "en":
        return TextSource(
            "en", "WordNet 3.0 example sentences", "wordnet-base",
            "WordNet 3.0 licence (BSD-style, Princeton University; keep the notice)",
            "LICENSE-wordnet.txt", wordnet_sentences(),
        )  # fmt: skip
    if language == "es":
        return TextSource(
            "es", "fortunes-es quotes and proverbs", "fortunes-es",
            "presumed public domain (fortunes-es package, GPL-2+ for its code)",
            "LICENSE-fortunes-es.txt", spanish_sentences(),
        )  # fmt: skip
    raise FlowvoxError(f"no corpus text for language {language!r}; languages with text: en, es")


def licence_text(file_name: str) -> str:
    """The licence notice shipped with flowvox under ``flowvox/data/corpus/``."""
    return resources.files("flowvox.data.corpus").joinpath(file_name).read_text(encoding="utf-8")


def wordnet_sentences(folder: str | Path = WORDNET_DIR) -> list[str]:
    """Cleaned, deduplicated, sorted example sentences of WordNet's ``data.*`` files.

    Examples are the double-quoted parts of each synset's gloss (after ``|``); the first
    letter is capitalised and a full stop added when no end punctuation is present.
    """
    folder = Path(folder)
    files = [folder / f"data.{pos}" for pos in ("noun", "verb", "adj", "adv")]
    if not all(f.is_file() for f in files):
        raise FlowvoxError(f"WordNet data not found in {folder}: apt-get install wordnet-base")
    found = []
    for path in files:
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith(" ") or " | " not in line:
                continue  # the licence header, or a synset without a gloss
            gloss = line.split(" | ", 1)[1]
            found += [_finish(ex) for ex in re.findall(r'"([^"]+)"', gloss)]
    return _keep(found, _ENGLISH_OK)


def spanish_sentences(folder: str | Path = FORTUNES_ES_DIR) -> list[str]:
    """Cleaned, deduplicated, sorted sentences of the ``fortunes-es`` files.

    Each fortune (records separated by ``%`` lines) loses its attribution lines (indented,
    starting with ``--``), is joined into one line and split after ``.``, ``!`` or ``?``.
    """
    files = sorted(Path(folder).glob("*.fortunes"))
    if not files:
        raise FlowvoxError(f"Spanish text not found in {folder}: apt-get install fortunes-es")
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for fortune in re.split(r"\n%\n", text):
            lines = [ln for ln in fortune.splitlines() if ln and not ln[0].isspace()]
            lines = [ln for ln in lines if not ln.lstrip().startswith("--")]
            joined = " ".join(" ".join(lines).split()).replace('"', "").replace("«", "")
            joined = joined.replace("»", "")
            found += [_finish(s) for s in re.split(r"(?<=[.!?])\s+", joined)]
    return _keep(found, _SPANISH_OK)


def _finish(text: str) -> str:
    """Collapse spaces, capitalise the first letter, end with punctuation."""
    text = " ".join(text.split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text.rstrip(",;:-") + "."


def _keep(candidates: list[str], allowed: re.Pattern) -> list[str]:
    """Filter by length and characters, drop duplicates (by normalized form), sort."""
    best: dict[str, str] = {}
    for text in sorted(candidates):
        if not allowed.fullmatch(text) or ".." in text or "--" in text:
            continue
        if not MIN_WORDS <= len(text.split()) <= MAX_WORDS:
            continue
        best.setdefault(normalize_sentence(text), text)
    return sorted(best.values())
