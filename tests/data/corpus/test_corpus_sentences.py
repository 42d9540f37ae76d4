"""Corpus text: WordNet / fortunes-es extraction, cleaning rules, held-out rule."""

import re
from pathlib import Path

import pytest

from flowvox.data.corpus.sentences import (
    FORTUNES_ES_DIR,
    is_held_out,
    licence_text,
    normalize_sentence,
    spanish_sentences,
    text_source,
    wordnet_sentences,
)
from flowvox.errors import FlowvoxError


@pytest.fixture(scope="module")
def english() -> list[str]:
    return wordnet_sentences()


def test_wordnet_gives_a_stable_sorted_duplicate_free_list(english):
    assert len(english) == 22258  # Debian wordnet-base 3.0; the list must not drift
    assert english == sorted(english)
    assert len({normalize_sentence(s) for s in english}) == len(english)
    assert all(6 <= len(s.split()) <= 20 for s in english)
    assert all(re.fullmatch(r"[A-Z][A-Za-z ,.'?!;:-]*[.?!]", s) for s in english)
    assert wordnet_sentences() == english


def test_wordnet_cleaning_rules_on_a_small_file(tmp_path: Path):
    header = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    lines = [
        header,
        '00001 03 n 01 a 0 000 | gloss; "the cat sat on the warm mat today"; "too short"\n',
        '00002 03 n 01 b 0 000 | gloss; "The cat sat on the warm mat today!"\n',  # duplicate
        '00003 03 n 01 c 0 000 | gloss; "he paid 15 dollars for the old book"\n',  # digits
        '00004 03 n 01 d 0 000 | gloss; "she waited...and waited for the bus"\n',  # ellipsis
        '00005 03 n 01 e 0 000 | "why did the old dog bark at night?"\n',
        '00006 03 n 01 f 0 000 no gloss here "a b c d e f g"\n',
    ]
    (tmp_path / "data.noun").write_text("".join(lines), encoding="latin-1")
    for pos in ("verb", "adj", "adv"):
        (tmp_path / f"data.{pos}").write_text(header, encoding="latin-1")
    assert wordnet_sentences(tmp_path) == [
        "The cat sat on the warm mat today!",
        "Why did the old dog bark at night?",
    ]


def test_missing_wordnet_names_the_package(tmp_path: Path):
    with pytest.raises(FlowvoxError, match="apt-get install wordnet-base"):
        wordnet_sentences(tmp_path)


def test_fortunes_cleaning_rules_on_a_small_file(tmp_path: Path):
    text = (
        "La amistad es una igualdad armónica entre dos almas. ¿Quién lo duda, querido amigo mío?\n"
        "\t\t-- Pitágoras. (582-507 A.C.) Filósofo y\n"
        "\t\tmatemático griego.\n"
        "%\n"
        'Dijo "no" tres veces antes de que cantara el gallo.\n'
        "%\n"
        "Corto.\n"
        "%\n"
        "En 1999 pasó algo muy raro en la ciudad.\n"
    )
    (tmp_path / "a.fortunes").write_text(text, encoding="utf-8")
    assert spanish_sentences(tmp_path) == [
        "Dijo no tres veces antes de que cantara el gallo.",
        "La amistad es una igualdad armónica entre dos almas.",
        "¿Quién lo duda, querido amigo mío?",
    ]


@pytest.mark.skipif(not FORTUNES_ES_DIR.is_dir(), reason="apt-get install fortunes-es")
def test_spanish_text_from_fortunes_es():
    spanish = spanish_sentences()
    assert len(spanish) == 9303  # Debian fortunes-es 1.36
    assert len({normalize_sentence(s) for s in spanish}) == len(spanish)
    assert all(6 <= len(s.split()) <= 20 for s in spanish)
    assert not any(re.search(r"[0-9()\[\]/@#\"]", s) for s in spanish)


def test_missing_fortunes_names_the_package(tmp_path: Path):
    with pytest.raises(FlowvoxError, match="apt-get install fortunes-es"):
        spanish_sentences(tmp_path)


def test_held_out_rule_is_a_function_of_the_normalised_sentence(english):
    held = [s for s in english if is_held_out(s)]
    assert 0.01 < len(held) / len(english) < 0.03
    for s in held[:50]:
        assert is_held_out(s.upper().rstrip(".?!") + " !")  # case and punctuation blind
    kept = next(s for s in english if not is_held_out(s))
    assert not is_held_out(kept.lower())
    assert normalize_sentence("Don't  STOP, now!") == "don t stop now"


def test_text_source_and_licence_files():
    assert text_source("en").package == "wordnet-base"
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in licence_text(
        "LICENSE-wordnet.txt"
    )
    assert "public domain" in licence_text("LICENSE-fortunes-es.txt")
    with pytest.raises(FlowvoxError, match="languages with text: en, es"):
        text_source("fr")
