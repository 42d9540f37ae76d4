"""Decide, before any audio exists, what each sound clip holds.

Clip ``i`` of a corpus with seed ``s`` is drawn from its own ``random.Random(f"sounds:{s}:{i}")``
(captions from ``random.Random(f"captions:{s}:{i}")``), so a plan depends on the seed, the
clip length and the sentence list but never on the number of clips: growing ``--clips``
keeps every earlier clip as it was.

A clip is one of three constructs:

- ``single``: one source: a steady tone, 1-5 beeps, 2-5 pulses, a plucked note, noise
  (steady, fading in or out), a rising or falling sweep, or a short spoken sentence;
- ``sequence``: two sources of different groups (tonal / noise / speech), one after the other;
- ``mixture``: a background (noise, or a steady low/mid tone under speech) with a foreground
  source starting 0.5-1 s into it and ending before it.

Sources are drawn at natural lengths; a clip longer than ``seconds`` is redrawn (up to
``DRAWS`` times), and if none fits, the shortest draw is compressed in time to fit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from flowvox.data.corpus.sentences import is_held_out, text_source
from flowvox.data.corpus.voices import resolve_voice
from flowvox.data.sounds.attributes import COLOURS, PITCH_BANDS, WAVES, Event, SoundAttributes
from flowvox.data.sounds.captions import write_captions
from flowvox.data.sounds.held_out import split_of
from flowvox.errors import FlowvoxError

MALE_VOICES = (
    "flite:rms",
    "flite:awb",
    "flite:kal16",
    "espeak:en-us+m3",
    "espeak:en-gb-scotland+m2",
)
FEMALE_VOICES = ("flite:slt", "espeak:en-us+f2", "espeak:en-us+f3", "espeak:en-gb-x-rp+f4")
SPEECH_MAX_WORDS = 8  # short sentences keep "beeps, then a man speaks" inside 10 s
SPEECH_PAUSE_S = 0.3  # added to the words / words-per-second estimate of a speech slot
TAIL_S = 0.2  # silence kept after the last event
MIN_SECONDS, MAX_SECONDS = 1.0, 600.0
DRAWS = 20

SOURCES = {  # source -> (group, weight as a single clip)
    "tone": ("tonal", 1.0), "beeps": ("tonal", 1.5), "pulses": ("tonal", 1.0),
    "pluck": ("tonal", 1.0), "sweep": ("tonal", 1.0), "noise": ("noise", 1.5),
    "speech": ("speech", 1.5),
}  # fmt: skip
CONSTRUCTS = {"single": 5.0, "sequence": 3.0, "mixture": 2.0}


@dataclass(frozen=True)
class ClipPlan:
    """One clip to build: ``wavs/<clip_id>.wav`` holding ``events``, described by ``caption``."""

    clip_id: str  # "snd000042"
    construct: str  # "single" | "sequence" | "mixture"
    sources: list[str]  # e.g. ["beeps", "speech"] (time order; a mixture: background first)
    events: list[Event]  # time order
    attributes: SoundAttributes
    captions: list[str]  # every phrasing
    caption: str  # the one used as the manifest text
    split: str  # "train" | "test" | "test_unseen"
    held_out: str | None = None  # the held-out combination it belongs to

    @property
    def rel_path(self) -> str:
        return f"wavs/{self.clip_id}.wav"


def speech_sentences() -> list[str]:
    """Short WordNet sentences (6-8 words) outside the speech corpus's held-out set."""
    sentences = text_source("en").sentences
    return [s for s in sentences if len(s.split()) <= SPEECH_MAX_WORDS and not is_held_out(s)]


def speech_voices() -> list[str]:
    """Every voice a plan may use for speech."""
    return [*MALE_VOICES, *FEMALE_VOICES]


def plan_sounds(
    clips: int, seed: int, seconds: float, sentences: list[str] | None = None
) -> list[ClipPlan]:
    """Plans of clips ``0 .. clips-1`` (see the module docstring)."""
    if clips < 1:
        raise FlowvoxError(f"--clips {clips}: give a positive number of clips")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise FlowvoxError(
            f"--seconds {seconds}: give a clip length from {MIN_SECONDS:g} to {MAX_SECONDS:g} s"
        )
    sentences = speech_sentences() if sentences is None else sentences
    return [plan_clip(i, seed, seconds, sentences) for i in range(clips)]


def plan_clip(index: int, seed: int, seconds: float, sentences: list[str]) -> ClipPlan:
    """The plan of clip ``index``; depends on nothing but the arguments."""
    rng = random.Random(f"sounds:{seed}:{index}")
    best: tuple[str, list[str], list[Event]] | None = None
    for _ in range(DRAWS):
        construct, sources, events = _draw_clip(rng, sentences)
        if best is None or _length(events) < _length(best[2]):
            best = construct, sources, events
        if _length(events) <= seconds:
            break
    construct, sources, events = best
    if _length(events) > seconds:
        factor = seconds / _length(events)
        events = [e.scaled(factor) for e in events]
    events = sorted(events, key=lambda e: e.start)
    attributes = SoundAttributes.from_events(events)
    clip_id = f"snd{index:06d}"
    split, combo = split_of(clip_id, attributes)
    captions = write_captions(construct, events, random.Random(f"captions:{seed}:{index}"))
    caption = random.Random(f"caption:{seed}:{index}").choice(captions)
    return ClipPlan(
        clip_id, construct, sources, events, attributes, captions, caption, split, combo
    )


def _length(events: list[Event]) -> float:
    return max(e.end for e in events) + TAIL_S


def _draw_clip(rng: random.Random, sentences: list[str]) -> tuple[str, list[str], list[Event]]:
    """(construct, sources, events) at natural lengths, placed after a short lead-in."""
    construct = _weighted(rng, CONSTRUCTS)
    lead = round(rng.uniform(0.1, 0.6), 3)
    if construct == "single":
        source = _weighted(rng, {s: w for s, (_, w) in SOURCES.items()})
        return construct, [source], [_draw_source(source, rng, sentences).shifted(lead)]
    if construct == "sequence":
        first = rng.choice(list(SOURCES))
        second = rng.choice([s for s, (g, _) in SOURCES.items() if g != SOURCES[first][0]])
        a = _draw_source(first, rng, sentences).shifted(lead)
        gap = round(rng.uniform(0.3, 0.8), 3)
        b = _draw_source(second, rng, sentences)
        return construct, [first, second], [a, b.shifted(round(a.end + gap, 3))]
    # mixture: a quieter background under a foreground that starts and ends inside it
    foreground = rng.choice([s for s in SOURCES if s != "noise"])
    background = "noise" if foreground != "speech" or rng.random() < 0.5 else "tone"
    fg = _draw_source(foreground, rng, sentences)
    fg = fg.shifted(round(lead + rng.uniform(0.5, 1.0), 3))
    bg = _draw_source(background, rng, sentences, background=True)
    end = round(max(bg.end + lead, fg.end + rng.uniform(0.4, 0.8)), 3)
    bg = Event(**{**bg.to_dict(), "start": lead, "end": end})
    return construct, [background, foreground], [bg, fg]


def _draw_source(
    source: str, rng: random.Random, sentences: list[str], background: bool = False
) -> Event:
    """One source starting at 0 s, at its natural length."""
    gain = round(rng.uniform(-12.0, -6.0), 1) if background else 0.0
    if source == "noise":
        colour = rng.choice(COLOURS)
        envelope = _weighted(rng, {"steady": 2.0, "fade_in": 1.0, "fade_out": 1.0})
        offset = round(rng.uniform(0.0, 4.0), 2)
        seconds = _uniform(rng, 1.5, 3.5)
        return Event(
            "noise", colour=colour, envelope=envelope, end=seconds, gain_db=gain,
            noise_offset_s=offset,
        )  # fmt: skip
    if source == "speech":
        sex = rng.choice(("male", "female"))
        voice = rng.choice(MALE_VOICES if sex == "male" else FEMALE_VOICES)
        text = rng.choice(sentences)
        wps = resolve_voice(voice).words_per_second
        seconds = round(len(text.split()) / wps + SPEECH_PAUSE_S, 3)
        return Event("speech", sex=sex, text=text, voice=voice, end=seconds, gain_db=gain)
    if source == "sweep":
        low, high = _pitch(rng, 200.0, 400.0), _pitch(rng, 1000.0, 2000.0)
        up = rng.random() < 0.5
        start, end = (low, high) if up else (high, low)
        seconds = _uniform(rng, 0.8, 2.0)
        return Event("sweep", wave="sine", pitch_hz=start, pitch_end_hz=end, end=seconds)
    band = rng.choice(("low", "mid")) if background else rng.choice(list(PITCH_BANDS))
    pitch = _pitch(rng, *PITCH_BANDS[band])
    if source == "pluck":
        return Event("pluck", pitch_hz=pitch, end=_uniform(rng, 0.6, 1.2))
    wave = rng.choice(WAVES)
    if source == "tone":
        seconds = _uniform(rng, 1.0, 2.5)
        return Event("tone", wave=wave, pitch_hz=pitch, end=seconds, gain_db=gain)
    if source == "beeps":
        count, burst, gap = rng.randint(1, 5), _uniform(rng, 0.08, 0.16), _uniform(rng, 0.15, 0.3)
    else:  # pulses: longer bursts, shorter gaps
        count, burst, gap = rng.randint(2, 5), _uniform(rng, 0.3, 0.45), _uniform(rng, 0.12, 0.2)
    seconds = round(count * burst + (count - 1) * gap, 3)
    return Event(
        "tone", wave=wave, pitch_hz=pitch, envelope=source, count=count, end=seconds,
        burst_s=burst,
    )  # fmt: skip


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _uniform(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 3)


def _pitch(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 1)
