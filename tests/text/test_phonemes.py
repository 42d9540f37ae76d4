"""Phonemes through espeak-ng: known symbols, batch order, one process per call, errors,
letters of another script."""

import shutil
import subprocess

import pytest

from flowvox.errors import FlowvoxError
from flowvox.text.phonemes import foreign_letters, phonemize, readable
from flowvox.text.tokenizers import CharTokenizer
from flowvox.text.vocab import build_vocab

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


@pytest.fixture
def process_count(monkeypatch):
    """Count subprocess.run calls while still running them."""
    calls = []
    real_run = subprocess.run

    def counting_run(*args, **kwargs):
        calls.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    return calls


@needs_espeak
def test_english_words_give_expected_ipa():
    hello, think = phonemize(["hello", "think"], "en-us")
    assert "h" in hello and "l" in hello and "ˈ" in hello
    assert "θ" in think  # the voiceless dental fricative, spelled "th"


@needs_espeak
def test_spanish_trill_and_tap_are_told_apart():
    perro, pero = phonemize(["perro", "pero"], "es")
    assert "r" in perro and "ɾ" not in perro
    assert "ɾ" in pero and "r" not in pero


@needs_espeak
def test_british_and_american_english_differ():
    us, gb = phonemize(["go"], "en-us")[0], phonemize(["go"], "en-gb")[0]
    assert us != gb


@needs_espeak
def test_batch_keeps_order_and_matches_one_by_one(process_count):
    texts = ["one", "Two, three!", "", "four five", "six.", "seven; eight", "?!"]
    batch = phonemize(texts, "en-us")
    assert len(process_count) == 1
    assert len(batch) == len(texts)
    assert batch == [phonemize([t], "en-us")[0] for t in texts]


@needs_espeak
def test_one_process_for_many_texts(process_count):
    texts = [f"Sentence {word}, with a comma." for word in ["alpha", "beta", "gamma"] * 10]
    assert len(phonemize(texts, "en")) == 30
    assert len(process_count) == 1
    assert phonemize([], "en") == []
    assert len(process_count) == 1  # an empty batch starts nothing


@needs_espeak
def test_punctuation_is_kept_at_its_place():
    (ipa,) = phonemize(['"Hello, world!" she said.'], "en-us")
    assert ipa.startswith('"') and ipa.endswith(".")
    assert ipa.count(",") == 1 and '!"' in ipa
    (bare,) = phonemize(["Hello, world!"], "en-us", keep_punctuation=False, keep_stress=False)
    assert not set(bare) & set(",!ˈˌ")
    assert len(bare.split()) == 2


@needs_espeak
def test_text_that_reads_like_a_marker_still_aligns():
    texts = ["xq", "qx zq", "hello"]
    out = phonemize(texts, "en-us")
    assert out[2] == phonemize(["hello"], "en-us")[0]
    assert all(out)


@needs_espeak
def test_char_tokenizer_over_ipa_round_trips():
    ipa = phonemize(["The quick brown fox.", "Jumps over the dog!"], "en-us")
    tok = CharTokenizer(build_vocab(ipa))
    assert [tok.decode(tok.encode(s)) for s in ipa] == ipa


def test_a_bare_string_is_refused():
    with pytest.raises(FlowvoxError, match=r"pass \[text\]"):
        phonemize("hello", "en-us")


def test_unsupported_language_lists_the_supported_ones():
    with pytest.raises(FlowvoxError, match="'fr' is not supported.*en-us, en-gb, es"):
        phonemize(["bonjour"], "fr")


def test_missing_binary_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlowvoxError) as err:
        phonemize(["hello"], "en-us")
    assert str(err.value) == (
        "espeak-ng not found: install the Debian package espeak-ng (apt-get install espeak-ng)"
    )


@pytest.mark.parametrize(
    ("text", "language", "foreign", "reads"),
    [
        ("Hello world, 3 times!", "en-us", [], True),
        ("Café, naïve, señor, ŋ", "en-us", [], True),
        ("¿Dónde está el niño?", "es", [], True),
        ("你好", "en-us", ["你", "好"], False),
        ("ᚠᚢᚦ ᚨᚱ", "en-gb", ["ᚠ", "ᚢ", "ᚦ", "ᚨ", "ᚱ"], False),
        ("Привет, мир", "es", sorted(set("Приветмир")), False),
        ("Hello 你好 ᚠ", "en-us", ["ᚠ", "你", "好"], True),
        ("ᚠᚢᚦ 42", "en-us", ["ᚠ", "ᚢ", "ᚦ"], True),  # the digits are read
        ("!!! ... ?", "en-us", [], False),  # nothing foreign, nothing to read either
    ],
    ids=["ascii", "latin-accents", "spanish", "chinese", "runes", "cyrillic", "mixed",
         "runes-digits", "punctuation"],
)  # fmt: skip
def test_letters_outside_the_languages_script_are_named(text, language, foreign, reads):
    assert foreign_letters(text, language) == foreign
    assert readable(text, language) is reads


def test_foreign_letters_refuses_an_unsupported_language():
    with pytest.raises(FlowvoxError, match="'fr' is not supported"):
        foreign_letters("bonjour", "fr")


@needs_espeak
def test_espeak_spells_out_foreign_letters_instead_of_reading_them():
    """Why foreign letters are refused: an English voice names them ("Chinese letter")."""
    ipa = phonemize(["你好", "ᚠ"], "en-us")
    assert all("lˈɛ" in out or "lˌɛ" in out for out in ipa), ipa  # "letter ..."
