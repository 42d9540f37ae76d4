"""Captions written from a clip's events, in several phrasings.

Each event gets a noun phrase ("three short high beeps", "pink noise fading out") and a
clause ("a man speaks", "a low tone plays"), each from at least three variants; each
construct (single, sequence, mixture) has at least three sentence templates. A clip's
captions are one per template, the event variants drawn from the clip's caption RNG.

Words a caption always uses, so that a caption names what the audio holds: the pitch band
of a tone or pluck (``BAND_WORDS``), the number of beeps or pulses (``NUMBER_WORDS``), the
noise colour, the speaker's sex (``SEX_WORDS``), the fade direction and a sweep's direction.
"""

from __future__ import annotations

import random

from flowvox.data.sounds.attributes import Event, pitch_band

NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
BAND_WORDS = {
    "low": ("low", "low-pitched", "deep"),
    "mid": ("mid-pitched", "medium-pitched", "middle"),
    "high": ("high", "high-pitched", "shrill"),
}
WAVE_WORDS = {
    "sine": ("pure", "sine", "clean"),
    "square": ("square-wave", "buzzy", "hollow"),
    "saw": ("sawtooth", "bright", "raspy"),
}
SEX_WORDS = {"male": ("man", "male voice", "man's voice"), "female": ("woman", "female voice")}
FADE_WORDS = {"in": ("fading in", "swelling up", "growing louder"),
              "out": ("fading out", "dying away", "growing quieter")}  # fmt: skip

TEMPLATES = {  # {a}, {b}: noun phrases; {a_clause}, {b_clause}: clauses
    "single": ("{a}", "the sound of {a}", "{a} against silence", "a recording of {a}"),
    "sequence": (
        "{a}, then {b_clause}",
        "{a} followed by {b}",
        "first {a}, then {b}",
        "{b_clause} after {a}",
    ),
    "mixture": (  # a: background, b: foreground
        "{b} over {a}",
        "{a} while {b_clause}",
        "{b_clause} over a background of {a}",
        "{a} with {b} on top",
    ),
}


def write_captions(construct: str, events: list[Event], rng: random.Random) -> list[str]:
    """One caption per template of ``construct``; ``events`` in time order (a mixture's
    background starts first). Duplicates are dropped, order kept."""
    a, b = events[0], events[-1]
    captions = []
    for template in TEMPLATES[construct]:
        text = template.format(
            a=noun_phrase(a, rng),
            a_clause=clause(a, rng),
            b=noun_phrase(b, rng),
            b_clause=clause(b, rng),
        )
        captions.append(" ".join(text.split()))
    return list(dict.fromkeys(captions))


def noun_phrase(event: Event, rng: random.Random) -> str:
    """ "three short high beeps", "a man speaking", "brown noise fading in", ..."""
    pick = rng.choice
    if event.kind == "speech":
        person = pick(SEX_WORDS[event.sex])
        return pick((f"a {person} speaking", f"a {person} talking",
                     f"a {person} saying a short sentence"))  # fmt: skip
    if event.kind == "noise":
        colour = event.colour
        if event.envelope in ("fade_in", "fade_out"):
            fade = pick(FADE_WORDS[event.envelope.removeprefix("fade_")])
            return pick((f"{colour} noise {fade}", f"a hiss of {colour} noise {fade}"))
        return pick((f"steady {colour} noise", f"a hiss of {colour} noise",
                     f"constant {colour} noise"))  # fmt: skip
    if event.kind == "sweep":
        up = event.pitch_end_hz > event.pitch_hz
        rising, low_high = ("rising", "up from low to high") if up else (
            "falling", "down from high to low")  # fmt: skip
        return pick((f"a {rising} tone sweep", f"a tone gliding {low_high}",
                     f"a {rising} whistle sweeping {low_high}"))  # fmt: skip
    band = pick(BAND_WORDS[pitch_band(event.pitch_hz)])
    if event.kind == "pluck":
        return pick((f"a {band} plucked note", f"a single {band} string pluck",
                     f"a {band} note plucked on a string"))  # fmt: skip
    wave = pick(WAVE_WORDS[event.wave])
    n = NUMBER_WORDS[event.count]
    if event.envelope == "beeps" and event.count == 1:
        return pick((f"a single short {band} beep", f"one {band} beep",
                     f"a single {band} {wave} beep"))  # fmt: skip
    if event.envelope == "beeps":
        return pick((f"{n} short {band} beeps", f"{n} quick {band} {wave} beeps",
                     f"{n} {band} beeps in a row"))  # fmt: skip
    if event.envelope == "pulses":
        return pick((f"{n} long {band} {wave} pulses", f"{n} {band} pulses",
                     f"{n} sustained pulses of a {band} {wave} tone"))  # fmt: skip
    return pick((f"a steady {band} {wave} tone", f"a continuous {band} tone",
                 f"a sustained {band} {wave} hum"))  # fmt: skip


def clause(event: Event, rng: random.Random) -> str:
    """ "a man speaks", "a low tone plays", "white noise hisses", ..."""
    if event.kind == "speech":
        person = rng.choice(SEX_WORDS[event.sex])
        return rng.choice(
            (f"a {person} speaks", f"a {person} talks", f"a {person} says a few words")
        )
    phrase = noun_phrase(event, rng)
    if event.kind == "noise":
        return f"{phrase} {rng.choice(('plays', 'hisses', 'comes in'))}"
    singular = phrase.startswith(("a ", "an ", "one "))
    return f"{phrase} {rng.choice(('plays', 'sounds') if singular else ('play', 'sound'))}"
