"""Normalisation tables: each input against the exact expected spoken form."""

import re

import pytest

from flowvox.text.normalize import collapse_whitespace, normalize_text

ENGLISH = [
    # cardinals, decimals, negatives, thousands separators
    ("I have 3 apples.", "I have three apples."),
    ("1,234 people", "one thousand two hundred and thirty-four people"),
    ("1234567", "one million two hundred and thirty-four thousand five hundred and sixty-seven"),
    ("pi is 3.14", "pi is three point one four"),
    ("add .5 cups", "add point five cups"),
    ("It was -5 degrees", "It was minus five degrees"),
    ("agent 007", "agent zero zero seven"),
    ("an mp3 file", "an mp three file"),
    ("1,2,3", "one,two,three"),
    # ordinals
    ("the 1st, 2nd, 3rd and 22nd", "the first, second, third and twenty-second"),
    ("his 101st birthday", "his one hundred and first birthday"),
    # years and decades
    ("in 1999 we met", "in nineteen ninety-nine we met"),
    ("born 1905", "born nineteen oh-five"),
    ("since 2010", "since twenty ten"),
    ("by 2005", "by two thousand and five"),
    ("the 1990s", "the nineteen nineties"),
    ("music of the '80s", "music of the eighties"),
    # money
    ("It costs $3.50.", "It costs three dollars fifty cents."),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("$1,000,000", "one million dollars"),
    ("$1.5 million", "one point five million dollars"),
    ("-$5", "minus five dollars"),
    ("£2.01", "two pounds one penny"),
    ("€5 or 7€", "five euros or seven euros"),
    # percentages
    ("50% off", "fifty percent off"),
    ("up 12.5 %", "up twelve point five percent"),
    ("-2%", "minus two percent"),
    # times
    ("at 3:30", "at three thirty"),
    ("at 3:05 pm", "at three oh five p m"),
    ("at 3:00", "at three o'clock"),
    ("at 15:00", "at fifteen hundred"),
    ("by 9am.", "by nine a m."),
    ("at 9 p.m. Then", "at nine p m. Then"),
    # abbreviations
    ("Mr. Smith met Mrs. Jones", "Mister Smith met Missus Jones"),
    ("Dr. Who lives on Elm Dr. today", "Doctor Who lives on Elm Drive today"),
    ("St. Louis is near Main St.", "Saint Louis is near Main Street."),
    ("cats vs. dogs", "cats versus dogs"),
    ("fruit, e.g. apples, i.e. food", "fruit, for example apples, that is food"),
    ("apples, pears, etc. Then more", "apples, pears, et cetera. Then more"),
    ("No. 5 and #1", "number five and number one"),
    ("Acme Inc. is big", "Acme Incorporated is big"),
    ("AT&T", "AT and T"),
    ("on Jan. 5", "on January five"),
    # whitespace
    ("  a \n\t b  ", "a b"),
]

SPANISH = [
    ("Tengo 3 perros.", "Tengo tres perros."),
    ("1.234,5", "mil doscientos treinta y cuatro coma cinco"),
    ("1.5", "uno punto cinco"),
    ("Tengo 21.", "Tengo veintiuno."),
    ("16 gatos", "dieciséis gatos"),  # the accent needs num2words >= 0.5.11
    ("-5 grados", "menos cinco grados"),
    ("50%", "cincuenta por ciento"),
    ("3,50 €", "tres euros con cincuenta céntimos"),
    ("$1", "un dólar"),
    ("21 €", "veintiún euros"),
    ("1.000.000 €", "un millón de euros"),
    ("el 1º y la 2ª", "el primero y la segunda"),
    ("Sr. García, etc.", "señor García, etcétera."),
    ("en 1999", "en mil novecientos noventa y nueve"),
]


@pytest.mark.parametrize(("text", "expected"), ENGLISH)
def test_english(text, expected):
    assert normalize_text(text, "en") == expected


@pytest.mark.parametrize(("text", "expected"), SPANISH)
def test_spanish(text, expected):
    assert normalize_text(text, "es") == expected


@pytest.mark.parametrize("language", ["en", "en-US", "en_gb"])
def test_english_variants_share_the_rules(language):
    assert normalize_text("$1", language) == "one dollar"


def test_other_languages_only_clean_whitespace():
    assert normalize_text("  Ich habe\n 3 Äpfel, Dr. X.  ", "de") == "Ich habe 3 Äpfel, Dr. X."


def test_no_digit_survives_english_normalisation():
    for text, _ in ENGLISH:
        assert not re.search(r"\d", normalize_text(text))


def test_normalisation_is_idempotent_on_its_output():
    for text, expected in ENGLISH + SPANISH:
        language = "es" if (text, expected) in SPANISH else "en"
        assert normalize_text(expected, language) == expected


def test_collapse_whitespace_handles_unicode_spaces():
    assert collapse_whitespace("a\u00a0\u2028b\r\n c ") == "a b c"
