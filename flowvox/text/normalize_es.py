"""Spanish normalisation for TTS: abbreviations, money, percentages, ordinals, numbers.
Called by :func:`flowvox.text.normalize.normalize_text` on whitespace-collapsed text.

Number format (RAE): "," is the decimal mark and "." groups thousands, so "1.234,5" ->
"mil doscientos treinta y cuatro coma cinco". A "." not followed by exactly three-digit
groups is read as a decimal point ("1.5" -> "uno punto cinco"). Steps, in order:

1. Abbreviations: "Sr." -> "señor", "Sra." -> "señora", "Srta." -> "señorita", "Dr." ->
   "doctor", "Dra." -> "doctora", "Ud." / "Uds." -> "usted" / "ustedes", "etc." ->
   "etcétera", "núm." / "n.º" before a digit -> "número".
2. Money: "€" or "$" before or after an amount. "3,50 €" -> "tres euros con cincuenta
   céntimos", "$1" -> "un dólar", "21 €" -> "veintiún euros", "1.000.000 €" -> "un millón
   de euros" ("$" reads "dólares", cents "centavos").
3. Minus signs -> "menos". 4. Percentages -> "por ciento".
5. Ordinals "1º" / "1.º" -> "primero", "2ª" -> "segunda".
6. Other numbers: cardinals and decimals (num2words, lang="es"). Years read as cardinals,
   as Spanish does ("1999" -> "mil novecientos noventa y nueve").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flowvox.text.number_words import spell_decimal, spell_integer, spell_ordinal

_INT = r"\d{1,3}(?:\.\d{3})+(?!\d)|\d+"  # "1.234.567" or "1234567"
_NEXT_IS_CAPITAL = re.compile(r"\s+[A-ZÁÉÍÓÚÑ¿¡]")

_ABBREVIATIONS: tuple[tuple[str, str, bool], ...] = (  # (pattern, expansion, may end sentence)
    (r"\bSrta\.", "señorita", False),
    (r"\bSra\.", "señora", False),
    (r"\bSr\.", "señor", False),
    (r"\bDra\.", "doctora", False),
    (r"\bDr\.", "doctor", False),
    (r"\bUds\.", "ustedes", True),
    (r"\bUd\.", "usted", True),
    (r"(?i:\betc\.)", "etcétera", True),
    (r"(?i:\bnúm\.|\bn\.?º)\s?(?=\d)", "número ", False),
)
_ABBREVIATION_RES = tuple((re.compile(p), e, end) for p, e, end in _ABBREVIATIONS)

_CURRENCIES = {  # symbol: (unit, units, subunit, subunits)
    "€": ("euro", "euros", "céntimo", "céntimos"),
    "$": ("dólar", "dólares", "centavo", "centavos"),
}
_AMOUNT = rf"(?P<int>{_INT})(?:,(?P<frac>\d+))?"
_MONEY_BEFORE = re.compile(rf"(?:(?<!\w)(?P<sign>[-−]))?(?P<sym>[€$])\s?{_AMOUNT}")
_MONEY_AFTER = re.compile(rf"(?<![\d.,])(?:(?<!\w)(?P<sign>[-−]))?{_AMOUNT}\s?(?P<sym>[€$])")
_MINUS = re.compile(r"(?<![\w.,])[-−](?=\d)")
_NUMBER_BODY = rf"(?P<int>{_INT})(?:(?P<sep>[.,])(?P<frac>\d+))?"
_PERCENT = re.compile(rf"(?<![\d.,]){_NUMBER_BODY}\s?%")
_ORDINAL = re.compile(r"(?<![\d.,])(?P<int>\d+)\.?(?P<mark>[ºª])")
_NUMBER = re.compile(rf"(?<!\d){_NUMBER_BODY}")


def normalize_spanish(text: str) -> str:
    """Apply steps 1-6 of the module docstring to whitespace-collapsed ``text``."""
    for pattern, expansion, may_end in _ABBREVIATION_RES:
        text = pattern.sub(_abbreviation(expansion, may_end), text)
    text = _MONEY_BEFORE.sub(_spaced(_money), text)
    text = _MONEY_AFTER.sub(_spaced(_money), text)
    text = _MINUS.sub("menos ", text)
    text = _PERCENT.sub(_spaced(lambda m: _number(m) + " por ciento"), text)
    text = _ORDINAL.sub(_spaced(_ordinal), text)
    text = _NUMBER.sub(_spaced(_number), text)
    return text


def _abbreviation(expansion: str, may_end: bool) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        at_end = m.end() == len(m.string) or _NEXT_IS_CAPITAL.match(m.string, m.end())
        return expansion + "." if may_end and at_end else expansion

    return replace


def _spaced(spell: Callable[[re.Match[str]], str]) -> Callable[[re.Match[str]], str]:
    """Wrap a speller so its words never glue onto neighbouring letters."""

    def replace(m: re.Match[str]) -> str:
        words = spell(m)
        if m.start() > 0 and m.string[m.start() - 1].isalpha():
            words = " " + words
        if m.end() < len(m.string) and m.string[m.end()].isalpha():
            words = words + " "
        return words

    return replace


def _number(m: re.Match[str]) -> str:
    whole = m["int"].replace(".", "")
    if not m["frac"]:
        return spell_integer(whole, "es")
    if m["sep"] == ".":  # "1.5": a decimal point, since thousands groups have three digits
        return spell_decimal(whole, m["frac"], "es", point="punto")
    return spell_decimal(whole, m["frac"], "es")


def _before_noun(words: str) -> str:
    """Apocope before a masculine noun: 'uno' -> 'un', 'veintiuno' -> 'veintiún';
    'un millón' -> 'un millón de' (a bare million takes 'de')."""
    if words.endswith("veintiuno"):
        return words[: -len("veintiuno")] + "veintiún"
    if words == "uno" or words.endswith(" uno"):
        return words[:-1]
    if words.endswith(("millón", "millones", "billón", "billones")):
        return words + " de"
    return words


def _money(m: re.Match[str]) -> str:
    unit, units, subunit, subunits = _CURRENCIES[m["sym"]]
    whole, frac = m["int"].replace(".", ""), m["frac"]
    negative = "menos " if m["sign"] else ""
    if frac and len(frac) > 2:
        return f"{negative}{spell_decimal(whole, frac, 'es')} {units}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if int(whole) or not cents:
        whole_words = _before_noun(spell_integer(whole, "es"))
        parts.append(f"{whole_words} {unit if int(whole) == 1 else units}")
    if cents:
        cents_words = _before_noun(spell_integer(str(cents), "es"))
        parts.append(f"{cents_words} {subunit if cents == 1 else subunits}")
    return negative + " con ".join(parts)


def _ordinal(m: re.Match[str]) -> str:
    words = spell_ordinal(m["int"], "es")
    if m["mark"] == "ª":  # feminine: every word's final -o becomes -a
        words = " ".join(w[:-1] + "a" if w.endswith("o") else w for w in words.split())
    return words
