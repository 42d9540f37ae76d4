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

Pseudo-speakers (``pseudo_speakers`` K > 0): every voice is followed by its K
pseudo-speakers (``flowvox.data.corpus.pseudo``), and sizes and sentences are spread over
all these speakers as over voices. An unseen pseudo-speaker's utterances all go to split
``test_unseen``, whatever their sentences. With K = 0 the plan is the plan of voices alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from flowvox.data.corpus.pseudo import UNSEEN_SPLIT, PseudoSpeaker, pseudo_speakers_of
from flowvox.data.corpus.sentences import TextSource, is_held_out
from flowvox.data.corpus.voices import VoiceInfo, default_voices, resolve_voice, slugify
from flowvox.errors import FlowvoxError

PAUSE_S = 0.25  # estimated silence left around a trimmed utterance
MAX_PSEUDO = 1000  # pseudo-speakers per voice


@dataclass(frozen=True)
class PlannedUtterance:
    """One utterance to build: ``wavs/<speaker slug>/<utt_id>.wav`` saying ``text``.

    The speaker is the engine ``voice`` itself, or ``pseudo`` (a changed copy of it).
    """

    utt_id: str  # "<speaker slug>_<sentence index, 5 digits>"
    voice: VoiceInfo
    text: str
    sentence_id: int  # index into the language's sorted sentence list
    split: str  # "train" | "test" | "test_unseen" (unseen pseudo-speakers)
    pseudo: PseudoSpeaker | None = None

    @property
    def speaker(self) -> str:
        """Speaker name: ``flite:kal16``, or ``flite:kal16+p3`` for a pseudo-speaker."""
        return self.voice.name if self.pseudo is None else self.pseudo.name

    @property
    def speaker_slug(self) -> str:
        return slugify(self.speaker)

    @property
    def rel_path(self) -> str:
        return f"wavs/{self.speaker_slug}/{self.utt_id}.wav"


@dataclass(frozen=True)
class _Speaker:
    voice: VoiceInfo
    pseudo: PseudoSpeaker | None

    @property
    def name(self) -> str:
        return self.voice.name if self.pseudo is None else self.pseudo.name

    @property
    def words_per_second(self) -> float:
        return self.voice.words_per_second * (
            1.0 if self.pseudo is None else self.pseudo.change.rate
        )


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


def estimated_seconds(text: str, voice: VoiceInfo | _Speaker) -> float:
    """Duration guess for planning: words / words_per_second + ``PAUSE_S``."""
    return len(text.split()) / voice.words_per_second + PAUSE_S


def plan_corpus(
    voices: list[VoiceInfo],
    sources: dict[str, TextSource],
    utterances: int | None,
    hours: float | None,
    seed: int,
    pseudo_speakers: int = 0,
) -> list[PlannedUtterance]:
    """The utterances to build, speaker by speaker in ``voices`` order, each voice followed
    by its ``pseudo_speakers`` pseudo-speakers (see module docstring)."""
    if (utterances is None) == (hours is None):
        raise FlowvoxError("give the corpus size as exactly one of --utterances N or --hours H")
    if utterances is not None and utterances < 1:
        raise FlowvoxError(f"--utterances {utterances}: give a positive number")
    if hours is not None and not hours > 0:
        raise FlowvoxError(f"--hours {hours}: give a positive number")
    check_pseudo_speakers(pseudo_speakers)
    speakers = [
        _Speaker(v, p) for v in voices for p in [None, *pseudo_speakers_of(v.name, pseudo_speakers)]
    ]
    plan: dict[str, list[PlannedUtterance]] = {}
    for language in sorted({v.language for v in voices}):
        group = [s for s in speakers if s.voice.language == language]
        order = [speakers.index(s) for s in group]
        sentences = sources[language].sentences
        if utterances is not None:
            n = len(speakers)
            counts = [utterances // n + (i < utterances % n) for i in order]
            if max(counts) > len(sentences):
                raise FlowvoxError(
                    f"--utterances {utterances}: more than the {len(sentences)} {language} "
                    f"sentences per voice; use fewer utterances or more voices"
                )

            def wants(k: int, taken: list[int], counts: list[int] = counts) -> bool:
                return len(taken) < counts[k]

        else:
            wants = _seconds_wanted(hours * 3600.0 / len(speakers), group, sentences)

        rng = random.Random(f"{seed}:{language}")
        dealt = deal(len(sentences), len(group), wants, rng)
        if hours is not None and any(len(ids) == len(sentences) for ids in dealt):
            raise FlowvoxError(
                f"--hours {hours}: a voice would run out of the {len(sentences)} {language} "
                f"sentences; ask for fewer hours or more voices"
            )
        for speaker, ids in zip(group, dealt, strict=True):
            plan[speaker.name] = [_utterance(speaker, sentences[i], i) for i in ids]
    return [u for s in speakers for u in plan[s.name]]


def check_pseudo_speakers(count: int) -> None:
    """Raise ``FlowvoxError`` unless ``count`` is a whole number in 0 .. MAX_PSEUDO_SPEAKERS."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_PSEUDO:
        raise FlowvoxError(
            f"--pseudo-speakers {count}: give a whole number from 0 to {MAX_PSEUDO} (per voice)"
        )


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
    share: float, group: list[_Speaker], sentences: list[str]
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


def _utterance(speaker: _Speaker, text: str, index: int) -> PlannedUtterance:
    if speaker.pseudo is not None and speaker.pseudo.unseen:
        split = UNSEEN_SPLIT
    else:
        split = "test" if is_held_out(text) else "train"
    utt_id = f"{slugify(speaker.name)}_{index:05d}"
    return PlannedUtterance(utt_id, speaker.voice, text, index, split, speaker.pseudo)
