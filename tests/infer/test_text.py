"""Text checks before synthesis: a phoneme model warns of letters outside its language's
script and refuses text with nothing it can read (no espeak-ng needed: checked before it)."""

import warnings

import pytest

from flowvox.errors import FlowvoxError
from flowvox.infer.text import iter_text_chunks, prepare_text
from flowvox.text import CharTokenizer, ForeignScriptWarning, UnknownCharacterWarning

PHONEME_EN = CharTokenizer([" ", "a", "b"], name="phoneme:en-us")


@pytest.mark.parametrize(
    "text", ["你好。", "ᚠᚢᚦ ᚨᚱ!", "Привет"], ids=["chinese", "runes", "cyrillic"]
)
def test_phoneme_model_refuses_text_with_nothing_it_can_read(text):
    with pytest.raises(FlowvoxError, match="nothing this en-us phoneme model can read") as err:
        prepare_text(text, PHONEME_EN, "en-us")
    assert "\n" not in str(err.value) and "not Latin script" in str(err.value)
    assert repr(sorted(c for c in set(text) if c.isalpha())[0]) in str(err.value)


def test_phoneme_model_warns_naming_the_foreign_letters():
    with pytest.warns(ForeignScriptWarning, match=r"3 character.*: 'ᚠ', 'ᚢ', '你'$") as got:
        assert prepare_text("Hello ᚠᚢ 你 there.", PHONEME_EN, "en-us") == "Hello ᚠᚢ 你 there."
    assert len(got) == 1 and issubclass(got[0].category, UnknownCharacterWarning)


def test_phoneme_model_reads_latin_text_without_a_word():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prepare_text("Café, naïve señor.", PHONEME_EN, "en-us") == "Café, naïve señor."


def test_pieces_are_checked_chunk_by_chunk():
    pieces = ["Hello there.", "ᚠᚢᚦ."]
    chunks = iter_text_chunks(pieces, 12, PHONEME_EN, "en-us")
    assert next(chunks) == "Hello there."
    with pytest.raises(FlowvoxError, match=r"can read \('ᚠ', 'ᚢ', 'ᚦ'"):
        next(chunks)


def test_a_character_model_still_refuses_by_its_vocab():
    char = CharTokenizer([" ", "H", "i"])
    with pytest.raises(FlowvoxError, match="no character this model knows"):
        prepare_text("你好", char, "en")
