"""Pseudo-speakers: new voices made from an engine voice by a seeded voice change.

``flowvox corpus build --pseudo-speakers K`` adds, for every engine voice ``ENGINE:VOICE``,
the speakers ``ENGINE:VOICE+p1`` ... ``ENGINE:VOICE+pK``. Speaker ``k`` of a voice depends
only on the voice name and ``k``, whatever the corpus seed, size or K:

- the voice's seed is the first 4 bytes of sha256(voice name); ``numpy.random.default_rng``
  of it draws a random shift ``r`` in [0, 1)^4;
- speaker ``k`` takes the point ``u = frac(halton(k) + r)`` of the 4-D Halton sequence
  (bases 2, 3, 5, 7) so that the first K speakers of a voice spread evenly over the ranges
  for any K (a shifted low-discrepancy sequence, not K independent draws that may land
  together), and maps each coordinate onto its range:

  - ``semitones``: ``SEMITONES`` without the band ``(-PITCH_GAP, PITCH_GAP)`` (no
    pseudo-speaker keeps its source's pitch), linear in ``u``;
  - ``vtl``: log-linear in ``VTL`` (formant factor, ``flowvox.audio.voice_change``);
  - ``tilt_db_per_octave``: linear in ``TILT_DB_PER_OCTAVE``;
  - ``rate``: log-linear in ``RATE`` (speaking rate);

  each rounded to 3 decimals. The rounded values are the ones applied and stored in the
  manifest (``extra.pseudo_speaker``, with ``seed`` and ``k``), so the manifest alone says
  how each wav was made.

The ranges were chosen with ``benchmarks/pseudo_speakers.py``: pitch moves resemblyzer's
judgement most; pocketsphinx WER suffers from formants moved further than about 8 %
(down for a male voice, up for a female one) and from phase-vocoder time stretching (hence
WSOLA in ``voice_change``); tilt barely changes WER.

Held out: a pseudo-speaker is unseen (all its utterances in split ``test_unseen``, none in
train or test) when sha256("unseen:" + name), first 8 bytes as an integer, modulo 100 is
below ``UNSEEN_PERCENT``. Like the held-out sentences, the rule depends on the name only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from flowvox.audio.voice_change import VoiceChange

SEMITONES = (-5.0, 5.0)
PITCH_GAP = 1.5
VTL = (0.92, 1.09)
TILT_DB_PER_OCTAVE = (-4.0, 4.0)
RATE = (0.88, 1.14)
HALTON_BASES = (2, 3, 5, 7)
UNSEEN_PERCENT = 10
UNSEEN_SPLIT = "test_unseen"


@dataclass(frozen=True)
class PseudoSpeaker:
    """Voice ``source`` changed by ``change``; named ``<source>+p<k>``."""

    source: str  # the engine voice name, "flite:kal16"
    k: int  # 1 .. K
    seed: int  # the voice's seed (shift of the Halton sequence)
    change: VoiceChange

    @property
    def name(self) -> str:
        return f"{self.source}+p{self.k}"

    @property
    def unseen(self) -> bool:
        return is_unseen_speaker(self.name)

    def manifest_extra(self) -> dict:
        """What the manifest stores: name, k, seed and the voice-change parameters."""
        return {"name": self.name, "k": self.k, "seed": self.seed, **self.change.as_dict()}


def pseudo_speaker(source: str, k: int) -> PseudoSpeaker:
    """Pseudo-speaker ``k`` (1-based) of the voice named ``source`` (module docstring)."""
    assert k >= 1, k
    seed = int.from_bytes(hashlib.sha256(source.encode("utf-8")).digest()[:4], "big")
    shift = np.random.default_rng(seed).random(len(HALTON_BASES))  # (4,)
    u = [float((halton(k, base) + r) % 1.0) for base, r in zip(HALTON_BASES, shift, strict=True)]
    low, high = SEMITONES
    semitones = low + (high - low - 2 * PITCH_GAP) * u[0]
    if semitones > -PITCH_GAP:
        semitones += 2 * PITCH_GAP
    change = VoiceChange(
        semitones=round(semitones, 3),
        vtl=round(_log_between(VTL, u[1]), 3),
        tilt_db_per_octave=round(_between(TILT_DB_PER_OCTAVE, u[2]), 3),
        rate=round(_log_between(RATE, u[3]), 3),
    )
    return PseudoSpeaker(source, k, seed, change)


def halton(index: int, base: int) -> float:
    """The radical inverse of ``index`` in ``base``: 1 -> 1/2, 2 -> 1/4, 3 -> 3/4 in base 2."""
    value, scale = 0.0, 1.0 / base
    while index:
        index, digit = divmod(index, base)
        value += digit * scale
        scale /= base
    return value


def _between(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _log_between(bounds: tuple[float, float], u: float) -> float:
    return float(np.exp(np.log(bounds[0]) + (np.log(bounds[1]) - np.log(bounds[0])) * u))


def pseudo_speakers_of(source: str, count: int) -> list[PseudoSpeaker]:
    """Pseudo-speakers 1 .. ``count`` of ``source``."""
    return [pseudo_speaker(source, k) for k in range(1, count + 1)]


def is_unseen_speaker(name: str) -> bool:
    """True for the ~``UNSEEN_PERCENT`` % of pseudo-speaker names that training never hears."""
    digest = hashlib.sha256(f"unseen:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < UNSEEN_PERCENT
