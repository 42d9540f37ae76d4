"""Character and byte tokenizers: ids, round trips, the unknown-character policies."""

import warnings

import pytest

from flowvox.errors import FlowvoxError
from flowvox.text.tokenizers import (
    ByteTokenizer,
    CharTokenizer,
    Tokenizer,
    UnknownCharacterWarning,
)
from flowvox.text.vocab import save_vocab

VOCAB = [" ", "!", "a", "b", "h", "é", "中", "zhong1"]


def test_encode_gives_line_indices_and_decode_inverts_it():
    tok = CharTokenizer(VOCAB)
    assert tok.encode("ha b!") == [4, 2, 0, 3, 1]
    assert tok.decode([4, 2, 0, 3, 1]) == "ha b!"
    assert tok.encode("中é") == [6, 5]
    assert tok.vocab_size == 8
    assert tok.name == "char"


def test_from_file_and_save_round_trip(tmp_path):
    path = tmp_path / "vocab.txt"
    save_vocab(VOCAB, path)
    tok = CharTokenizer.from_file(path)
    assert tok.tokens == tuple(VOCAB)
    tok.save(tmp_path / "copy.txt")
    assert (tmp_path / "copy.txt").read_bytes() == path.read_bytes()


def test_multi_character_tokens_are_reached_through_encode_tokens():
    tok = CharTokenizer(VOCAB)
    assert tok.encode_tokens(["zhong1", " ", "a"]) == [7, 0, 2]
    assert tok.decode([7, 2]) == "zhong1a"


def test_both_tokenizers_satisfy_the_protocol():
    assert isinstance(CharTokenizer(VOCAB), Tokenizer)
    assert isinstance(ByteTokenizer(), Tokenizer)


def test_unknown_space_maps_to_id_0_with_one_warning_naming_the_characters():
    tok = CharTokenizer(VOCAB)
    with pytest.warns(UnknownCharacterWarning) as record:
        ids = tok.encode("hxé€x")
    assert ids == [4, 0, 5, 0, 0]
    assert len(record) == 1
    message = str(record[0].message)
    assert "'x', '€'" in message  # sorted, repr'd, each named once
    assert "space (id 0)" in message


def test_unknown_drop_removes_them_with_one_warning():
    tok = CharTokenizer(VOCAB, unknown="drop")
    with pytest.warns(UnknownCharacterWarning, match="dropped: 'x', 'y'") as record:
        assert tok.encode("ayxbx") == [2, 3]
    assert len(record) == 1


def test_unknown_error_raises_naming_them():
    tok = CharTokenizer(VOCAB, unknown="error")
    with pytest.raises(FlowvoxError, match="not in the 'char' vocab: 'q', 'ü'"):
        tok.encode("aüqq")


def test_known_text_issues_no_warning():
    tok = CharTokenizer(VOCAB)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tok.encode("ab") == [2, 3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("日本", True), ("日 本\n", True), ("a日", False), ("", False), ("   ", False), ("ab", False)],
)
def test_all_unknown_ignores_whitespace(text, expected):
    assert CharTokenizer(VOCAB).all_unknown(text) is expected


def test_unknown_chars_are_distinct_and_sorted():
    assert CharTokenizer(VOCAB).unknown_chars("zyaz日") == ["y", "z", "日"]


def test_bad_inputs_are_clear_errors():
    with pytest.raises(FlowvoxError, match="must be the space"):
        CharTokenizer(["a", " "])
    with pytest.raises(FlowvoxError, match="space, drop, error"):
        CharTokenizer(VOCAB, unknown="ignore")
    with pytest.raises(FlowvoxError, match="id 8 is outside"):
        CharTokenizer(VOCAB).decode([1, 8])


def test_byte_tokenizer_round_trips_mixed_english_and_chinese():
    tok = ByteTokenizer()
    text = "Hello, 世界! ñ 😀"
    ids = tok.encode(text)
    assert ids[:5] == [72, 101, 108, 108, 111]
    assert tok.encode("世") == [0xE4, 0xB8, 0x96]
    assert len(ids) == len(text.encode("utf-8"))
    assert tok.decode(ids) == text
    assert tok.vocab_size == 256
    assert not tok.all_unknown("世界") and tok.unknown_chars("世界") == []


def test_byte_tokenizer_decode_replaces_broken_utf8_and_rejects_non_bytes():
    tok = ByteTokenizer()
    assert tok.decode([0x61, 0xE4, 0xB8]) == "a\ufffd"  # a truncated 3-byte character
    with pytest.raises(FlowvoxError, match="not bytes"):
        tok.decode([65, 256])
