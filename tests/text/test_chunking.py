"""Sentence chunking: boundaries by strength, limits in bytes or chars, streaming, speed."""

import itertools
import random
import time

import pytest

from flowvox.errors import FlowvoxError
from flowvox.text.chunking import chunk_text, iter_chunks

ALPHABET = list("abcdefgh") * 6 + list("     \n.,;!?…") + ["。", "，", "中", "é", "😀", '"', "」"]


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(n))


def no_spaces(text: str) -> str:
    return "".join(text.split())


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("One. Two. Three.", 9, ["One. Two.", "Three."]),
        ("A b. C d e f.", 10, ["A b.", "C d e f."]),  # a sentence that fits stays whole
        ("aaa, bbb, ccc.", 9, ["aaa, bbb,", "ccc."]),  # too long: cut at clauses
        ("alpha beta gamma delta", 11, ["alpha beta", "gamma delta"]),  # then at spaces
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),  # then inside the word
        ("你好。世界。", 9, ["你好。", "世界。"]),  # CJK marks need no space after them
        ("你好，世界", 9, ["你好，", "世界"]),
        ('"Hi." She said.', 10, ['"Hi."', "She said."]),  # closing quote stays
        ("3.5 is. Ok", 7, ["3.5 is.", "Ok"]),  # a dot inside a word is no boundary
        ("a\n\n  b.\tc", 100, ["a b. c"]),  # whitespace collapsed
    ],
)
def test_examples(text, limit, expected):
    assert chunk_text(text, limit) == expected


def test_length_is_utf8_bytes_by_default_or_chars():
    assert chunk_text("中中中中", 6) == ["中中", "中中"]
    assert chunk_text("中中中中", 3, unit="chars") == ["中中中", "中"]
    assert chunk_text("ééééé", 5) == ["éé", "éé", "é"]  # never cuts inside a character


def test_empty_and_blank_text_give_no_chunks():
    assert chunk_text("", 10) == []
    assert chunk_text(" \n\t ", 10) == []


def test_bad_limits_are_clear_errors():
    with pytest.raises(FlowvoxError, match="at least 4"):
        chunk_text("abc", 3)
    with pytest.raises(FlowvoxError, match="'bytes' or 'chars'"):
        chunk_text("abc", 10, unit="words")
    assert chunk_text("abc", 1, unit="chars") == ["a", "b", "c"]


@pytest.mark.parametrize("unit", ["bytes", "chars"])
def test_property_nothing_lost_or_duplicated_and_limits_hold(unit):
    rng = random.Random(1234)
    measure = utf8_len if unit == "bytes" else len
    for _ in range(300):
        text = random_text(rng, rng.randint(0, 120))
        limit = rng.randint(4, 40)
        chunks = chunk_text(text, limit, unit)
        assert "".join(chunks).replace(" ", "") == no_spaces(text)
        for chunk in chunks:
            assert 0 < measure(chunk) <= limit
            assert chunk == " ".join(chunk.split())  # stripped, single spaces


def test_property_streaming_in_any_pieces_equals_whole_text():
    rng = random.Random(99)
    for _ in range(200):
        text = random_text(rng, rng.randint(1, 120))
        limit = rng.randint(4, 30)
        cuts = sorted(rng.sample(range(len(text) + 1), rng.randint(0, min(20, len(text)))))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert list(iter_chunks(iter(pieces), limit)) == chunk_text(text, limit)


def test_iter_chunks_streams_without_reading_all_input():
    consumed = []

    def lines():
        for i in itertools.count():
            consumed.append(i)
            yield f"Line number {i} has a few words. "

    first = list(itertools.islice(iter_chunks(lines(), 80), 3))  # an endless input
    assert len(first) == 3
    assert len(consumed) < 10


def test_long_run_without_spaces_streams_in_bounded_steps():
    consumed = []

    def chars():
        for i in range(20_000):
            consumed.append(i)
            yield "字"

    stream = iter_chunks(chars(), 30)
    assert next(stream) == "字" * 10
    assert len(consumed) < 40
    assert sum(len(c) for c in stream) == 20_000 - 10


def test_100k_characters_take_under_a_second():
    rng = random.Random(0)
    words = ["speech", "flow", "matching", "model,", "data.", "voice!", "中文。", "test;"]
    text = " ".join(rng.choice(words) for _ in range(20_000))[:100_000]
    assert len(text) == 100_000
    start = time.perf_counter()
    chunks = chunk_text(text, 200)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert "".join(chunks).replace(" ", "") == no_spaces(text)
    assert max(utf8_len(c) for c in chunks) <= 200
