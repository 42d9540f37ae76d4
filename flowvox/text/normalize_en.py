"""English normalisation for TTS: abbreviations, money, percentages, times, ordinals, years,
numbers. Called by :func:`flowvox.text.normalize.normalize_text` on whitespace-collapsed text.

Steps, in this order (each a regex substitution, so the whole pass is linear in the text):

1. Abbreviations (table ``_ABBREVIATIONS``) and "&" -> "and". "St." / "Dr." read as
   "Street" / "Drive" when the word before is capitalised and the word after is not
   ("Main St.", "Elm Dr. is"), else as "Saint" / "Doctor" ("St. Louis", "Dr. Smith").
   "No." and "#" before a digit read "number". Expansions that can end a sentence
   ("etc.", "Inc.", "Jr.", "Street", ...) keep their period at the end of the text or
   before a capitalised word.
2. Money: "$", "£", "€" before an amount (also "€" after it), with an optional scale word.
   "$3.50" -> "three dollars fifty cents", "$1" -> "one dollar", "$0.99" -> "ninety-nine
   cents", "£2.01" -> "two pounds one penny", "$1.5 million" -> "one point five million
   dollars". More than two decimals read as a decimal ("$1.125" -> "one point one two five
   dollars").
3. Minus signs: "-" or "−" before a digit, at the start or after a non-word character.
4. Percentages: "12.5%" -> "twelve point five percent".
5. Times: "3:30" -> "three thirty", "3:05" -> "three oh five", "3:00" -> "three o'clock"
   ("15:00" -> "fifteen hundred"), "10:15:30" -> "ten fifteen and thirty seconds", with
   "am"/"p.m." -> "a m" / "p m"; "9am" -> "nine a m".
6. Ordinals: "1st", "22nd", "1,000th".
7. Decades: "1990s" / "1990's" -> "nineteen nineties", "'90s" -> "nineties".
8. Years: a bare four-digit integer from 1100 to 2099 (no thousands comma, sign or
   decimal part) is read as a year: "in 1999" -> "in nineteen ninety-nine", "1905" ->
   "nineteen oh-five", "2010" -> "twenty ten". Running text writes counts of that size with
   a comma ("1,500 people"), and "fifteen hundred" is a correct reading of 1500 anyway.
9. Other numbers: "1,234" / "1234" cardinals, "3.14" -> "three point one four", ".5" ->
   "point five"; a leading zero or more than 15 digits reads digit by digit.

Numbers glued to letters get spaces ("mp3" -> "mp three"). Units ("km", "kg") are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flowvox.text.number_words import (
    pluralize_number_words,
    spell_decimal,
    spell_integer,
    spell_ordinal,
    spell_year,
)

_INT = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+"  # "1,234,567" or "1234567"
_NEXT_IS_CAPITAL = re.compile(r"\s+[A-Z]")

# (pattern, expansion, may end a sentence). Patterns include their trailing period; a
# group named "pre" (context matched before the abbreviation) is kept.
_ABBREVIATIONS: tuple[tuple[str, str, bool], ...] = (
    (r"\bMrs\.|\bMrs(?= [A-Z])", "Missus", False),
    (r"\bMr\.|\bMr(?= [A-Z])", "Mister", False),
    (r"\bMs\.|\bMs(?= [A-Z])", "Miz", False),
    (r"(?P<pre>\b[A-Z][\w'-]* )Dr\.(?! [A-Z])", "Drive", True),
    (r"(?P<pre>\b[A-Z][\w'-]* )St\.(?! [A-Z])", "Street", True),
    (r"\bDr\.|\bDr(?= [A-Z])", "Doctor", False),
    (r"\bSt\.|\bSt(?= [A-Z])", "Saint", False),
    (r"\bMt\.|\bMt(?= [A-Z])", "Mount", False),
    (r"\bProf\.", "Professor", False),
    (r"\bGen\.", "General", False),
    (r"\bCapt\.", "Captain", False),
    (r"\bLt\.", "Lieutenant", False),
    (r"\bSgt\.", "Sergeant", False),
    (r"\bCol\.", "Colonel", False),
    (r"\bRev\.", "Reverend", False),
    (r"\bHon\.", "Honorable", False),
    (r"\bJr\.", "Junior", True),
    (r"\bSr\.", "Senior", True),
    (r"\bAve\.", "Avenue", True),
    (r"\bBlvd\.", "Boulevard", True),
    (r"\bRd\.", "Road", True),
    (r"\bInc\.", "Incorporated", True),
    (r"\bLtd\.", "Limited", True),
    (r"\bCorp\.", "Corporation", True),
    (r"\bCo\.", "Company", True),
    (r"\bDept\.", "Department", True),
    (r"(?i:\betc\.)", "et cetera", True),
    (r"\b[Vv]s\.|\bvs\b", "versus", False),
    (r"(?i:\be\.g\.?)(?!\w)", "for example", False),
    (r"(?i:\bi\.e\.?)(?!\w)", "that is", False),
    (r"(?i:\bapprox\.)", "approximately", False),
    (r"\b[Nn]o\.\s?(?=\d)|#(?=\d)", "number ", False),
    (r"\bJan\.", "January", False),
    (r"\bFeb\.", "February", False),
    (r"\bMar\.", "March", False),
    (r"\bApr\.", "April", False),
    (r"\bJun\.", "June", False),
    (r"\bJul\.", "July", False),
    (r"\bAug\.", "August", False),
    (r"\bSept?\.", "September", False),
    (r"\bOct\.", "October", False),
    (r"\bNov\.", "November", False),
    (r"\bDec\.", "December", False),
    (r"\s*&\s*", " and ", False),
)
_ABBREVIATION_RES = tuple((re.compile(p), e, end) for p, e, end in _ABBREVIATIONS)

_CURRENCIES = {  # symbol: (unit, units, subunit, subunits)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}
_SCALE = r"(?:\s(?P<scale>thousand|million|billion|trillion)\b)?"
_MONEY_BEFORE = re.compile(
    rf"(?:(?<!\w)(?P<sign>[-−]))?(?P<sym>[$£€])\s?(?P<int>{_INT})(?:\.(?P<frac>\d+))?{_SCALE}"
)
_MONEY_AFTER = re.compile(rf"(?<![\d.,])(?P<int>{_INT})(?:\.(?P<frac>\d+))?{_SCALE}\s?(?P<sym>€)")
_MINUS = re.compile(r"(?<![\w.,])[-−](?=\.?\d)")
_PERCENT = re.compile(rf"(?<![\d.,])(?:(?P<int>{_INT})(?:\.(?P<frac>\d+))?|\.(?P<frac2>\d+))\s?%")
_AMPM = r"(?:\s?(?P<ap>[AaPp])\.?[Mm]\b(?P<dot>\.)?)"
_TIME = re.compile(
    rf"(?<![\d:.,])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?(?![\d:]){_AMPM}?"
)
_HOUR_AMPM = re.compile(rf"(?<![\d:.,])(?P<h>1[0-2]|0?[1-9]){_AMPM}")
_ORDINAL = re.compile(rf"(?<![\d.,])(?P<int>{_INT})(?i:st|nd|rd|th)\b")
_DECADE = re.compile(r"(?<![\d.,])(?P<y>1[1-9]\d0|20\d0)'?s\b")
_SHORT_DECADE = re.compile(r"(?<![\w'])'?(?P<d>[2-9]0)'?s\b")
_YEAR = re.compile(r"(?<![\d.,])(?<!minus )(?P<y>1[1-9]\d\d|20\d\d)(?!\d|[.,]\d)")
_NUMBER = re.compile(rf"(?<!\d)(?:(?P<int>{_INT})(?:\.(?P<frac>\d+))?|\.(?P<frac2>\d+))")


def normalize_english(text: str) -> str:
    """Apply steps 1-9 of the module docstring to whitespace-collapsed ``text``."""
    for pattern, expansion, may_end in _ABBREVIATION_RES:
        text = pattern.sub(_abbreviation(expansion, may_end), text)
    text = _MONEY_BEFORE.sub(_spaced(_money), text)
    text = _MONEY_AFTER.sub(_spaced(_money), text)
    text = _MINUS.sub("minus ", text)
    text = _PERCENT.sub(_spaced(lambda m: _number(m) + " percent"), text)
    text = _TIME.sub(_spaced(_time), text)
    text = _HOUR_AMPM.sub(_spaced(_time), text)
    text = _ORDINAL.sub(_spaced(lambda m: spell_ordinal(m["int"].replace(",", ""))), text)
    text = _DECADE.sub(_spaced(lambda m: pluralize_number_words(spell_year(m["y"]))), text)
    text = _SHORT_DECADE.sub(_spaced(lambda m: pluralize_number_words(spell_integer(m["d"]))), text)
    text = _YEAR.sub(_spaced(lambda m: spell_year(m["y"])), text)
    text = _NUMBER.sub(_spaced(_number), text)
    return text


def _abbreviation(expansion: str, may_end: bool) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        pre = m.groupdict().get("pre") or ""
        if may_end and _ends_sentence(m):
            return pre + expansion + "."
        return pre + expansion

    return replace


def _ends_sentence(m: re.Match[str]) -> bool:
    """The match is at the end of the text or followed by a capitalised word."""
    return m.end() == len(m.string) or _NEXT_IS_CAPITAL.match(m.string, m.end()) is not None


def _spaced(spell: Callable[[re.Match[str]], str]) -> Callable[[re.Match[str]], str]:
    """Wrap a speller so its words never glue onto neighbouring letters ("mp3" -> "mp three")."""

    def replace(m: re.Match[str]) -> str:
        words = spell(m)
        if m.start() > 0 and m.string[m.start() - 1].isalpha():
            words = " " + words
        if m.end() < len(m.string) and m.string[m.end()].isalpha():
            words = words + " "
        return words

    return replace


def _number(m: re.Match[str]) -> str:
    """Cardinal or decimal from a match with groups int, frac (and frac2 for '.5')."""
    if m["int"] is None:
        return spell_decimal("", m["frac2"])
    whole = m["int"].replace(",", "")
    return spell_decimal(whole, m["frac"]) if m["frac"] else spell_integer(whole)


def _money(m: re.Match[str]) -> str:
    unit, units, subunit, subunits = _CURRENCIES[m["sym"]]
    whole, frac = m["int"].replace(",", ""), m["frac"]
    negative = "minus " if m.groupdict().get("sign") else ""
    if m["scale"]:
        amount = spell_decimal(whole, frac) if frac else spell_integer(whole)
        return f"{negative}{amount} {m['scale']} {units}"
    if frac and len(frac) > 2:
        return f"{negative}{spell_decimal(whole, frac)} {units}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if int(whole) or not cents:
        parts.append(f"{spell_integer(whole)} {unit if int(whole) == 1 else units}")
    if cents:
        parts.append(f"{spell_integer(str(cents))} {subunit if cents == 1 else subunits}")
    return negative + " ".join(parts)


def _time(m: re.Match[str]) -> str:
    hour = int(m["h"])
    minute = int(m.groupdict().get("m") or 0)
    words = spell_integer(str(hour))
    if 0 < minute < 10:
        words += " oh " + spell_integer(str(minute))
    elif minute >= 10:
        words += " " + spell_integer(str(minute))
    elif m["ap"] is None:
        words += " o'clock" if hour <= 12 else " hundred"
    seconds = int(m.groupdict().get("s") or 0)
    if seconds:
        words += f" and {spell_integer(str(seconds))} second{'s' if seconds > 1 else ''}"
    if m["ap"]:
        words += " a m" if m["ap"] in "Aa" else " p m"
        if m["dot"] and _ends_sentence(m):
            words += "."
    return words
