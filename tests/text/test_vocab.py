"""Vocab files in the F5 format: exact bytes, round trips, whitespace-like tokens, errors."""

import pytest

from flowvox.errors import FlowvoxError
from flowvox.text.vocab import build_vocab, extend_vocab, load_vocab, save_vocab

# Line 0 is the space; then a multibyte character and tokens that are themselves
# whitespace-like (no-break space, LINE SEPARATOR, tab), which strip()/splitlines() would break.
TOKENS = [" ", "a", "é", "中", "\u00a0", "\u2028", "\t", "zhong1"]


def test_save_writes_one_token_per_line_in_utf8(tmp_path):
    path = tmp_path / "vocab.txt"
    save_vocab(TOKENS, path)
    expected = b" \na\n\xc3\xa9\n\xe4\xb8\xad\n\xc2\xa0\n\xe2\x80\xa8\n\t\nzhong1\n"
    assert path.read_bytes() == expected


def test_round_trip_keeps_ids_and_the_space_at_line_0(tmp_path):
    path = tmp_path / "vocab.txt"
    save_vocab(TOKENS, path)
    loaded = load_vocab(path)
    assert loaded == TOKENS
    assert loaded[0] == " "
    assert loaded.index("中") == 3


def test_load_reads_a_hand_written_f5_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(" \n!\na\n\xe4\xb8\xad\n".encode("latin-1"))
    assert load_vocab(path) == [" ", "!", "a", "中"]


def test_load_accepts_windows_line_endings(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b" \r\na\r\nb\r\n")
    assert load_vocab(path) == [" ", "a", "b"]


def test_save_is_atomic_and_leaves_no_temp_file_on_error(tmp_path):
    path = tmp_path / "vocab.txt"
    save_vocab([" ", "a"], path)
    with pytest.raises(FlowvoxError, match="newline"):
        save_vocab([" ", "a\nb"], path)
    assert path.read_bytes() == b" \na\n"  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.txt"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b" \na\na\n", r"'a' has ids 1 and 2"),
        (b" \n\na\n", "line 1 is empty"),
        (b"", "is empty"),
        (b" \n\xff\n", "not UTF-8"),
    ],
)
def test_load_rejects_broken_files(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(FlowvoxError, match=message):
        load_vocab(path)


def test_load_missing_file_names_it(tmp_path):
    with pytest.raises(FlowvoxError, match="nope.txt.*not found"):
        load_vocab(tmp_path / "nope.txt")


def test_build_vocab_puts_space_first_then_sorted_characters():
    texts = (t for t in ["ba c", "中é\n", "a"])  # any iterable, line breaks left out
    assert build_vocab(texts) == [" ", "a", "b", "c", "é", "中"]
    assert build_vocab([]) == [" "]


def test_extend_vocab_keeps_every_old_id_and_appends_each_new_token_once():
    old = [" ", "b", "a"]  # not sorted: the order is kept as it is
    assert extend_vocab(old, ["b", "ñ", "a", "ñ", "¿"]) == [" ", "b", "a", "ñ", "¿"]
    assert extend_vocab(old, []) == old and old == [" ", "b", "a"]  # the input is not changed
