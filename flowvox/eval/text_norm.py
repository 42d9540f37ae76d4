"""Word error rate on normalised text: the scoring half of the intelligibility judge.

Both the reference and the hypothesis pass through :func:`normalize_for_wer` before they are
aligned, so that "Dr. Smith paid $5" and "doctor smith paid five dollars" score 0 errors:

1. :func:`flowvox.text.normalize_text` writes numbers, money and abbreviations as words.
2. Lower case (``str.casefold``); curly apostrophes become "'".
3. Every character that is not a letter, a digit or an apostrophe becomes a space
   (punctuation, hyphens: "thirty-four" -> "thirty four", "U.S.A." -> "u s a").
4. Apostrophes are kept only inside words ("it's", "o'clock"); quote marks around words go.
5. Whitespace runs collapse to one space.
6. English only: words that recognisers write in a short form become the spoken form that
   step 1 gives the written text ("mr" -> "mister", "dr" -> "doctor", "ok" -> "okay";
   table ``_SPOKEN_FORMS``). pocketsphinx's dictionary spells "mister" as "mr" (and
   "missus" as "mrs", ...): without this, a correctly heard "Mr. Smith" scored one error.

WER = (S + D + I) / N, with S substitutions, D deletions, I insertions from the minimum
edit-distance word alignment (jiwer) and N the number of reference words. Corpus WER sums
the counts over all utterances before dividing (not the mean of per-utterance WERs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from flowvox.errors import FlowvoxError
from flowvox.text import collapse_whitespace, normalize_text

_NOT_WORD = re.compile(r"[^\w']|_")  # anything but letters, digits and apostrophes
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'+|'+(?!\w)")  # at the start or end of a word
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# short forms in pocketsphinx's cmudict-en-us.dict whose pronunciation is the spoken form
# flowvox.text.normalize_text writes for the dotted abbreviation ("st", street or saint, is
# left alone: its reading depends on the context)
_SPOKEN_FORMS = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "jr": "junior",
    "sr": "senior", "mt": "mount", "vs": "versus", "ok": "okay",
}  # fmt: skip


def normalize_for_wer(text: str, language: str = "en") -> str:
    """Normalise ``text`` for scoring (see the module docstring).

    ``"It's 1,234 km -- \\"quoted\\"!"`` -> ``"it's one thousand two hundred and thirty four
    km quoted"``.
    """
    text = normalize_text(text.translate(_APOSTROPHES), language).casefold()
    text = _NOT_WORD.sub(" ", text)
    text = _LOOSE_APOSTROPHE.sub(" ", text)
    if language == "en":
        text = " ".join(_SPOKEN_FORMS.get(word, word) for word in text.split())
    return collapse_whitespace(text)


@dataclass(frozen=True)
class WordErrors:
    """Word alignment counts and the word error rate they give.

    ``wer = (substitutions + deletions + insertions) / reference_words``; it can exceed 1
    when the hypothesis holds many extra words.
    """

    wer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @classmethod
    def from_counts(
        cls, substitutions: int, deletions: int, insertions: int, reference_words: int
    ) -> WordErrors:
        """Build from counts; ``reference_words`` must be positive."""
        if reference_words <= 0:
            raise FlowvoxError(
                f"WordErrors.from_counts: reference_words is {reference_words}; a WER needs at "
                "least one reference word (score transcripts that hold words)"
            )
        errors = substitutions + deletions + insertions
        return cls(errors / reference_words, substitutions, deletions, insertions, reference_words)


def wer(reference: str, hypothesis: str, language: str = "en") -> WordErrors:
    """Word errors of one ``hypothesis`` against its ``reference``, both normalised first.

    Raises ``FlowvoxError`` when the reference holds no words after normalisation.
    """
    return wer_many([reference], [hypothesis], language)


def wer_many(
    references: Sequence[str], hypotheses: Sequence[str], language: str = "en"
) -> WordErrors:
    """Corpus-level word errors: counts summed over all pairs, then divided once.

    A pair whose reference is empty after normalisation adds its hypothesis words as
    insertions. Raises ``FlowvoxError`` when the lists differ in length or no reference
    holds a word.
    """
    import jiwer

    if len(references) != len(hypotheses):
        raise FlowvoxError(
            f"wer: {len(references)} references but {len(hypotheses)} hypotheses; "
            "give one hypothesis per reference"
        )
    subs = dels = ins = words = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref = normalize_for_wer(reference, language)
        hyp = normalize_for_wer(hypothesis, language)
        if not ref:
            ins += len(hyp.split())
            continue
        out = jiwer.process_words(ref, hyp)
        subs, dels, ins = subs + out.substitutions, dels + out.deletions, ins + out.insertions
        words += len(ref.split())
    if words == 0:
        raise FlowvoxError(
            f"wer: the reference text {list(references)[:3]!r} holds no words after "
            "normalisation; give transcripts with words"
        )
    return WordErrors.from_counts(subs, dels, ins, words)
