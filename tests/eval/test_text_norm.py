"""Text normalisation for scoring and WER counts against hand-computed alignments."""

import pytest

from flowvox.errors import FlowvoxError
from flowvox.eval.text_norm import WordErrors, normalize_for_wer, wer, wer_many


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("  many\t spaces\n here ", "many spaces here"),
        ("It's 12 o'clock.", "it's twelve o'clock"),
        ("Dr. Smith paid $5.", "doctor smith paid five dollars"),
        ("thirty-four rock-and-roll", "thirty four rock and roll"),
        ("U.S.A.", "u s a"),
        ("He said \"'yes'\" -- twice; (maybe).", "he said yes twice maybe"),
        ("the dogs' bones", "the dogs bones"),
        ("don\u2019t", "don't"),
        ("snake_case", "snake case"),
        (
            "In 1999 we had 2,500 cats",
            "in nineteen ninety nine we had two thousand five hundred cats",
        ),
        ("", ""),
        ("?!...", ""),
    ],
)
def test_normalize_for_wer(text, expected):
    assert normalize_for_wer(text) == expected


def test_normalize_keeps_accented_letters_and_uses_the_language():
    assert normalize_for_wer("¿Tienes 2 gatos, Élodie?", "es") == "tienes dos gatos élodie"


def test_identical_after_normalisation_scores_zero():
    out = wer("Dr. Smith paid $5.50!", "doctor smith paid five dollars fifty cents")
    assert out == WordErrors(0.0, 0, 0, 0, 7)


@pytest.mark.parametrize(
    ("ref", "hyp", "counts"),
    [
        # one substitution (sat -> sit) in 6 words
        ("the cat sat on the mat", "the cat sit on the mat", (1, 0, 0, 6)),
        # one deletion (on) and one insertion (today)
        ("the cat sat on the mat", "the cat sat the mat today", (0, 1, 1, 6)),
        # everything deleted
        ("a b c", "", (0, 3, 0, 3)),
        # two insertions: WER above 1 is possible
        ("go", "go go go", (0, 0, 2, 1)),
        # substitution plus deletion: "one two three four" -> "one too four"
        ("one two three four", "one too four", (1, 1, 0, 4)),
    ],
)
def test_wer_counts(ref, hyp, counts):
    subs, dels, ins, words = counts
    out = wer(ref, hyp)
    assert (out.substitutions, out.deletions, out.insertions, out.reference_words) == counts
    assert out.wer == pytest.approx((subs + dels + ins) / words)


def test_wer_many_sums_counts_before_dividing():
    out = wer_many(["a b c d", "e f"], ["a b c d", "x"])  # 0/4 and (1 sub + 1 del)/2
    assert (out.substitutions, out.deletions, out.insertions, out.reference_words) == (1, 1, 0, 6)
    assert out.wer == pytest.approx(2 / 6)  # not the mean of 0 and 1


def test_wer_many_empty_reference_counts_insertions():
    out = wer_many(["...", "a b"], ["uh huh", "a b"])
    assert (out.insertions, out.reference_words, out.wer) == (2, 2, 1.0)


def test_wer_errors_name_the_problem():
    with pytest.raises(FlowvoxError, match="no words"):
        wer("?!", "something")
    with pytest.raises(FlowvoxError, match="2 references but 1 hypotheses"):
        wer_many(["a", "b"], ["a"])


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("And Mister John Dashwood.", "and mr john dashwood"),  # LibriVox clip 0870
        ("Mr. and Mrs. Smith saw Dr. Jones.", "mister and mrs smith saw dr jones"),
        ("Okay, Ms. Lee.", "ok ms lee"),
    ],
)
def test_recogniser_short_forms_score_as_the_spoken_word(reference, hypothesis):
    """pocketsphinx writes "mister" as "mr" (its dictionary says M IH S T ER): no error."""
    assert wer(reference, hypothesis).wer == 0.0


def test_short_forms_only_in_english_and_st_is_left_alone():
    assert normalize_for_wer("mr dr st ok") == "mister doctor st okay"
    assert normalize_for_wer("dr ok", "es") == "dr ok"


def test_word_errors_need_a_reference_word():
    assert WordErrors.from_counts(1, 0, 0, 2).wer == 0.5
    with pytest.raises(FlowvoxError, match="reference_words is 0"):
        WordErrors.from_counts(0, 0, 3, 0)
