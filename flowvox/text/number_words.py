"""Numbers written as words through num2words, with the digit-string rules the normalisers share.

Inputs are digit strings (no sign, no separators) so that "007" and "3.50" keep their
zeros. Rules: an integer with a leading zero ("007") or more than 15 digits is read digit by
digit; otherwise as a cardinal. num2words' commas ("one thousand, two hundred") are removed,
since a comma would read as a pause.
"""

from __future__ import annotations

from num2words import num2words

MAX_CARDINAL_DIGITS = 15  # longer digit strings (card numbers, ids) are read digit by digit
POINT_WORD = {"en": "point", "es": "coma"}


def spell_digits(digits: str, lang: str = "en") -> str:
    """'042' -> 'zero four two'."""
    return " ".join(num2words(int(d), lang=lang) for d in digits)


def spell_integer(digits: str, lang: str = "en") -> str:
    """'1234' -> 'one thousand two hundred and thirty-four' (see the module rules)."""
    if (len(digits) > 1 and digits[0] == "0") or len(digits) > MAX_CARDINAL_DIGITS:
        return spell_digits(digits, lang)
    return _clean(num2words(int(digits), lang=lang))


def spell_decimal(whole: str, fraction: str, lang: str = "en", point: str | None = None) -> str:
    """('3', '14') -> 'three point one four'; the fraction is read digit by digit.

    An empty ``whole`` (".5") reads as "point five". ``point`` overrides the word for the
    separator (default: "point" for English, "coma" for Spanish).
    """
    point = point or POINT_WORD.get(lang, "point")
    head = spell_integer(whole, lang) + " " if whole else ""
    return f"{head}{point} {spell_digits(fraction, lang)}"


def spell_ordinal(digits: str, lang: str = "en") -> str:
    """'22' -> 'twenty-second' (Spanish: masculine form, '1' -> 'primero')."""
    return _clean(num2words(int(digits), lang=lang, to="ordinal"))


def spell_year(digits: str) -> str:
    """English year reading: '1999' -> 'nineteen ninety-nine', '1905' -> 'nineteen oh-five',
    '2005' -> 'two thousand and five', '2010' -> 'twenty ten'."""
    return _clean(num2words(int(digits), lang="en", to="year"))


def pluralize_number_words(words: str) -> str:
    """'nineteen ninety' -> 'nineteen nineties', 'eighteen hundred' -> 'eighteen hundreds'."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + "s"


def _clean(words: str) -> str:
    return " ".join(words.replace(",", " ").split())
