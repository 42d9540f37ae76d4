"""Decide, before any audio exists, which voice speaks which sentence.

The plan depends only on the config (voices, size, seed) and the sentence lists, so a
second run with the same arguments plans the same utterances and can skip those on disk.

Size: ``utterances`` N in total, spread evenly over the voices (the first N mod V voices
get one more), or ``hours`` H in total, H/V per voice, each voice taking sentences until
its estimated duration (words / words_per_second + a pause) reaches its share.

Sentences: per language, a shuffled sentence order (``random.Random(f"{seed}:{language}")``)
is dealt round-robin to that language's voices, so no two utterances share a sentence
until the list runs out; then a fresh shuffle is dealt, and a voice never gets a sentence
twice. The held-out split follows the sentence (``is_held_out``), not the voice.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from flowvox.data.corpus.sentences import TextSource, is_held_out
from flowvox.data.corpus.voices import VoiceInfo, default_voices, resolve_voice
from flowvox.errors import FlowvoxError

PAUSE_S = 0.25  # estimated silence left around a trimmed utterance


@dataclass(frozen=True)
class PlannedUtterance:
    """One utterance to build: ``wavs/<voice slug>/<utt_id>.wav`` saying ``text``."""

    utt_id: str  # "<voice slug>_<sentence index, 5 digits>"
    voice: VoiceInfo
    text: str
    sentence_id: int  # index into the language's sorted sentence list
    split: str  # "train" | "test"

    @property
    def rel_path(self) -> str:
        return f"wavs/{self.voice.slug}/{self.utt_id}.wav"


def select_voices(names: list[str] | None, languages: list[str] | None) -> list[VoiceInfo]:
    """Resolve voice names (``None``: the default set), keep those in ``languages`` if given.

    With ``names=None`` and ``languages=None`` the default set is the English one.
    """
    voices = default_voices(languages) if names is None else [resolve_voice(n) for n in names]
    if languages is not None:
        voices = [v for v in voices if v.language in languages]
    if not voices:
        raise FlowvoxError(
            f"no voice selected (voices {names}, languages {languages}); "
            "see `flowvox corpus voices`"
        )
    seen = [v.name for v in voices]
    if len(set(seen)) != len(seen):
        raise FlowvoxError(f"voices {seen} name a voice twice; give each voice once")
    return voices


def estimated_seconds(text: str, voice: VoiceInfo) -> float:
    """Duration guess for planning: words / words_per_second + ``PAUSE_S``."""
    return len(text.split()) / voice.words_per_second + PAUSE_S


def plan_corpus(
    voices: list[VoiceInfo],
    sources: dict[str, TextSource],
    utterances: int | None,
    hours: float | None,
    seed: int,
) -> list[PlannedUtterance]:
    """The utterances to build, voice by voice in ``voices`` order (see module docstring)."""
    if (utterances is None) == (hours is None):
        raise FlowvoxError("give the corpus size as exactly one of --utterances N or --hours H")
    if utterances is not None and utterances < 1:
        raise FlowvoxError(f"--utterances {utterances}: give a positive number")
    if hours is not None and not hours > 0:
        raise FlowvoxError(f"--hours {hours}: give a positive number")
    plan: dict[str, list[PlannedUtterance]] = {}
    for language in sorted({v.language for v in voices}):
        group = [v for v in voices if v.language == language]
        order = [voices.index(v) for v in group]
        sentences = sources[language].sentences
        if utterances is not None:
            counts = [utterances // len(voices) + (i < utterances % len(voices)) for i in order]
            if max(counts) > len(sentences):
                raise FlowvoxError(
                    f"--utterances {utterances}: more than the {len(sentences)} {language} "
                    f"sentences per voice; use fewer utterances or more voices"
                )

            def wants(k: int, taken: list[int], counts: list[int] = counts) -> bool:
                return len(taken) < counts[k]

        else:
            wants = _seconds_wanted(hours * 3600.0 / len(voices), group, sentences)

        rng = random.Random(f"{seed}:{language}")
        dealt = deal(len(sentences), len(group), wants, rng)
        if hours is not None and any(len(ids) == len(sentences) for ids in dealt):
            raise FlowvoxError(
                f"--hours {hours}: a voice would run out of the {len(sentences)} {language} "
                f"sentences; ask for fewer hours or more voices"
            )
        for voice, ids in zip(group, dealt, strict=True):
            plan[voice.name] = [_utterance(voice, sentences[i], i) for i in ids]
    return [u for v in voices for u in plan[v.name]]


def deal(
    n_sentences: int,
    n_voices: int,
    wants: Callable[[int, list[int]], bool],
    rng: random.Random,
) -> list[list[int]]:
    """Deal sentence indices round-robin from shuffled passes over ``range(n_sentences)``.

    Voice k takes sentences while ``wants(k, taken_so_far)`` and it has not had them all;
    an index voice k already has is passed over (it is not put back for the others).
    """
    taken: list[list[int]] = [[] for _ in range(n_voices)]
    owned: list[set[int]] = [set() for _ in range(n_voices)]
    stream: list[int] = []
    active = [k for k in range(n_voices) if wants(k, taken[k])]
    while active:
        for k in active:
            while True:
                if not stream:
                    stream = list(range(n_sentences))
                    rng.shuffle(stream)
                    stream.reverse()  # pop() from the end = the shuffled order
                index = stream.pop()
                if index not in owned[k]:
                    break
            taken[k].append(index)
            owned[k].add(index)
        active = [k for k in active if len(taken[k]) < n_sentences and wants(k, taken[k])]
    return taken


def _seconds_wanted(
    share: float, group: list[VoiceInfo], sentences: list[str]
) -> Callable[[int, list[int]], bool]:
    """A ``wants`` for ``deal``: voice k wants more until its estimated seconds reach ``share``."""
    done = [0.0] * len(group)  # estimated seconds of the sentences counted so far
    counted = [0] * len(group)

    def wants(k: int, taken: list[int]) -> bool:
        for i in taken[counted[k] :]:
            done[k] += estimated_seconds(sentences[i], group[k])
        counted[k] = len(taken)
        return done[k] < share

    return wants


def _utterance(voice: VoiceInfo, text: str, index: int) -> PlannedUtterance:
    split = "test" if is_held_out(text) else "train"
    return PlannedUtterance(f"{voice.slug}_{index:05d}", voice, text, index, split)
