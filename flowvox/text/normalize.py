"""Text normalisation for TTS: write numbers, money and abbreviations as the words spoken.

``normalize_text(text, language)``:

- ``"en"`` (also ``"en-us"``, ``"en-gb"``, ...): :mod:`flowvox.text.normalize_en`.
- ``"es"`` (also ``"es-419"``, ...): :mod:`flowvox.text.normalize_es`.
- any other language: whitespace clean-up only; the text is otherwise returned unchanged,
  since reading numbers needs the language's rules.

Whitespace clean-up (all languages, before and after): every run of whitespace (spaces,
tabs, line breaks, no-break spaces, U+2028...) becomes one space; the ends are stripped.
The functions are pure and deterministic: same input, same output, no state.
"""

from __future__ import annotations

import re

from flowvox.text.normalize_en import normalize_english
from flowvox.text.normalize_es import normalize_spanish

_WHITESPACE = re.compile(r"\s+")
_NORMALIZERS = {"en": normalize_english, "es": normalize_spanish}


def collapse_whitespace(text: str) -> str:
    """'  a\\n\\t b ' -> 'a b'."""
    return _WHITESPACE.sub(" ", text).strip()


def normalize_text(text: str, language: str = "en") -> str:
    """Normalise ``text`` for speaking in ``language`` (see the module docstring).

    ``language`` is a code such as "en", "en-us" or "es"; only the part before the first
    "-" or "_" selects the rules, case-insensitively.
    """
    text = collapse_whitespace(text)
    normalizer = _NORMALIZERS.get(re.split(r"[-_]", language.lower(), maxsplit=1)[0])
    if normalizer is None or not text:
        return text
    return collapse_whitespace(normalizer(text))
