"""The split rule of the sound corpus: held-out attribute combinations, then a hashed test set.

``split_of(clip_id, attributes)`` is a pure function of the clip id and the flat attributes
(``SoundAttributes``), whatever the seed or corpus size:

1. ``"test_unseen"`` when the attributes form one of the ``HELD_OUT`` combinations. Each
   combination is made of values that all appear in training on their own, so a model that
   composes attributes can still render it:

   - ``many_high_beeps``: four or five high-pitched (>= 1000 Hz band) beeps or pulses alone
     (one to three high beeps, and four or five low or mid beeps, are trained);
   - ``brown_noise_fading_in``: brown noise that fades in (steady or fading-out brown noise,
     and white or pink noise fading in, are trained);
   - ``female_speech_after_beeps``: a woman speaking after two or more beeps or pulses
     started (a woman alone, before beeps or after one beep or a steady tone, and a man
     after beeps, are trained).

2. ``"test"`` for about ``TEST_PERCENT`` % of the other clips: sha256 of the clip id,
   first 8 bytes as an integer, modulo 100, below ``TEST_PERCENT``.
3. ``"train"`` otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flowvox.data.sounds.attributes import SoundAttributes, pitch_band

TEST_PERCENT = 5
SPLITS = ("train", "test", "test_unseen")


def _many_high_beeps(a: SoundAttributes) -> bool:
    return a.order == ["tone"] and pitch_band(a.pitch_hz) == "high" and a.count >= 4


def _brown_noise_fading_in(a: SoundAttributes) -> bool:
    return a.noise_colour == "brown" and a.fade == "in"


def _female_speech_after_beeps(a: SoundAttributes) -> bool:
    return a.order == ["tone", "speech"] and a.sex == "female" and a.count >= 3


HELD_OUT: dict[str, Callable[[SoundAttributes], bool]] = {
    "many_high_beeps": _many_high_beeps,
    "brown_noise_fading_in": _brown_noise_fading_in,
    "female_speech_after_beeps": _female_speech_after_beeps,
}
HELD_OUT_TEXT = {
    "many_high_beeps": "four or five high-pitched beeps or pulses, alone",
    "brown_noise_fading_in": "brown noise fading in",
    "female_speech_after_beeps": "a woman speaking after two or more beeps or pulses",
}


def held_out_combo(attributes: SoundAttributes) -> str | None:
    """The name of the held-out combination ``attributes`` form, or ``None``."""
    for name, rule in HELD_OUT.items():
        if rule(attributes):
            return name
    return None


def split_of(clip_id: str, attributes: SoundAttributes) -> tuple[str, str | None]:
    """``(split, held-out combination or None)`` for a clip (see the module docstring)."""
    combo = held_out_combo(attributes)
    if combo is not None:
        return "test_unseen", combo
    digest = hashlib.sha256(clip_id.encode("utf-8")).digest()
    test = int.from_bytes(digest[:8], "big") % 100 < TEST_PERCENT
    return ("test" if test else "train"), None
