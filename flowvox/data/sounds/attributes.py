"""The attribute schema of a sound clip: its events in time order, and the flat attributes.

A clip is a list of ``Event`` s (what the renderer plays, seconds from the clip's start).
``SoundAttributes`` is what a listener (or a judge in ``flowvox.eval``) can tell from the
audio alone; it is THE CONTRACT between the sound corpus and the judges, and is a pure
function of the events (``SoundAttributes.from_events``):

- ``count``: separate sound events / onsets: the sum of ``Event.count`` (k beeps -> k,
  a steady tone -> 1, speech -> 1, noise -> 1).
- ``pitch_hz``: the pitch of the main tonal event: the first ``tone`` or ``pluck`` event
  (beeps and pulses are tones); ``None`` when there is none (a sweep has no single pitch).
- ``noise_colour``: ``"white" | "pink" | "brown"`` of the noise event, else ``None``.
- ``speech`` / ``sex``: whether someone speaks, and the speaker's sex (``"male" | "female"``).
- ``fade``: ``"in" | "out"`` when the noise fades in or out, else ``None``.
- ``seconds``: the active duration, first event start to last event end.
- ``order``: event kinds in time (start) order, e.g. ``["tone", "speech"]``.

A planned clip holds at most one tonal event (tone, pluck or sweep), one noise and one
speech event, so every flat attribute has one answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from flowvox.errors import FlowvoxError

KINDS = ("tone", "pluck", "noise", "sweep", "speech")
WAVES = ("sine", "square", "saw")
COLOURS = ("white", "pink", "brown")
ENVELOPES = ("steady", "beeps", "pulses", "fade_in", "fade_out")
SEXES = ("male", "female")

# Pitch bands (Hz, inclusive) that plans draw from and captions name.
PITCH_BANDS = {"low": (200.0, 350.0), "mid": (440.0, 700.0), "high": (1000.0, 2000.0)}


@dataclass(frozen=True)
class Event:
    """One sound in a clip, from ``start`` to ``end`` seconds after the clip's first sample.

    ``count`` bursts of ``burst_s`` seconds each, evenly gapped, for ``beeps``/``pulses``
    (else 1). ``gain_db`` is its level relative to the clip's foreground (a background is
    quieter); ``noise_offset_s`` picks which stretch of the (seeded) noise is played;
    ``voice`` is the speech engine voice (``flite:rms``).
    """

    kind: str  # one of KINDS
    wave: str | None = None  # tone/sweep oscillator: one of WAVES
    pitch_hz: float | None = None  # tone/pluck pitch, sweep start
    pitch_end_hz: float | None = None  # sweep end
    colour: str | None = None  # noise colour: one of COLOURS
    envelope: str = "steady"  # one of ENVELOPES
    count: int = 1
    sex: str | None = None  # speech: one of SEXES
    text: str | None = None  # speech: the sentence
    start: float = 0.0
    end: float = 0.0
    voice: str | None = None
    burst_s: float | None = None
    gain_db: float = 0.0
    noise_offset_s: float = 0.0

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        """JSON-ready dict without the keys left at ``None``."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, record: dict) -> Event:
        return cls(**record)

    def shifted(self, by: float) -> Event:
        """The same event ``by`` seconds later (times rounded to 1 ms)."""
        return _replace(self, start=round(self.start + by, 3), end=round(self.end + by, 3))

    def scaled(self, factor: float) -> Event:
        """Times (start, end, burst length) multiplied by ``factor``, rounded to 1 ms."""
        burst = None if self.burst_s is None else round(self.burst_s * factor, 3)
        start, end = round(self.start * factor, 3), round(self.end * factor, 3)
        return _replace(self, start=start, end=end, burst_s=burst)


def _replace(event: Event, **changes) -> Event:
    return Event(**{**asdict(event), **changes})


def pitch_band(hz: float | None) -> str | None:
    """``"low" | "mid" | "high"`` for a pitch in (or nearest to) one of ``PITCH_BANDS``."""
    if hz is None:
        return None
    if hz < (PITCH_BANDS["low"][1] + PITCH_BANDS["mid"][0]) / 2:
        return "low"
    if hz < (PITCH_BANDS["mid"][1] + PITCH_BANDS["high"][0]) / 2:
        return "mid"
    return "high"


@dataclass(frozen=True)
class SoundAttributes:
    """The flat, judgeable attributes of a whole clip (see the module docstring)."""

    count: int
    pitch_hz: float | None
    noise_colour: str | None
    speech: bool
    sex: str | None
    fade: str | None
    seconds: float
    order: list[str] = field(default_factory=list)

    @classmethod
    def from_events(cls, events: list[Event]) -> SoundAttributes:
        timed = sorted(events, key=lambda e: e.start)
        tonal = [e for e in timed if e.kind in ("tone", "pluck")]
        noise = [e for e in timed if e.kind == "noise"]
        speech = [e for e in timed if e.kind == "speech"]
        fades = [e.envelope for e in timed if e.envelope in ("fade_in", "fade_out")]
        return cls(
            count=sum(e.count for e in timed),
            pitch_hz=tonal[0].pitch_hz if tonal else None,
            noise_colour=noise[0].colour if noise else None,
            speech=bool(speech),
            sex=speech[0].sex if speech else None,
            fade=fades[0].removeprefix("fade_") if fades else None,
            seconds=round(max(e.end for e in timed) - timed[0].start, 3),
            order=[e.kind for e in timed],
        )

    def to_dict(self) -> dict:
        """All eight keys, ``None`` values included (the judges' contract)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> SoundAttributes:
        """Inverse of ``to_dict``; ``FlowvoxError`` for missing or unknown keys."""
        keys = [f.name for f in fields(cls)]
        if sorted(record) != sorted(keys):
            raise FlowvoxError(
                f"sound attributes need exactly the keys {keys}, got {sorted(record)}"
            )
        return cls(**record)
