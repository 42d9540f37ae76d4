"""Judge a sound clip's attributes from its audio alone, and score them against the truth.

``judge_clip`` estimates the flat attributes of the sound corpus manifest (the contract):

    count        number of events (``onsets.detect_events``, speech merged by ``kinds``)
    pitch_hz     pitch of the longest tonal event (tone, pluck; a sweep's start), else None
    noise_colour colour of the noise events' samples (``noise``), None without noise events
    speech       any speech event (``speech``); with a recogniser also ≥ 1 recognised word
    sex          from the median F0 of the speech events (``speech.sex_from_f0``), else None
    fade         ``fade.fade_direction``: "in", "out" or None
    seconds      active duration, first event start → last event end
    order        event kinds in time order

``score`` compares one estimate with a truth dict: count and order exact, pitch within 1
semitone (when the truth has a pitch), colour, speech and fade equal, sex equal (when the
truth has speech), seconds within max(10 %, 0.3 s). ``attribute_accuracy`` averages each
attribute over the clips whose truth defines it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from flowvox.audio.asr import Transcriber
from flowvox.data.sounds.attributes import SoundAttributes
from flowvox.errors import FlowvoxError
from flowvox.eval.sound.fade import FadeConfig, fade_direction
from flowvox.eval.sound.kinds import TONAL_KINDS, Event, KindConfig, Tracks, classify, merge_speech
from flowvox.eval.sound.layers import LayerConfig, Layers, split_layers
from flowvox.eval.sound.noise import MIN_SAMPLES, colour_from_slope, noise_colour, psd_slope
from flowvox.eval.sound.onsets import Events, OnsetConfig, Segment, active_seconds, detect_events
from flowvox.eval.sound.pitch import peak_track, pitch_correct, semitone_error, wide_f0
from flowvox.eval.sound.signal import (
    FRAME_SECONDS,
    SAMPLE_RATE,
    bin_hz,
    check_wav,
    frame_db,
    power_spectrogram,
)
from flowvox.eval.sound.speech import SpeechConfig, sex_from_f0, speech_f0

ATTRIBUTES = tuple(f.name for f in fields(SoundAttributes))  # the contract, in order


@dataclass(frozen=True)
class JudgeConfig:
    """Every threshold of the sound judges, by judge."""

    onsets: OnsetConfig = field(default_factory=OnsetConfig)
    kinds: KindConfig = field(default_factory=KindConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    fade: FadeConfig = field(default_factory=FadeConfig)
    layers: LayerConfig = field(default_factory=LayerConfig)
    seconds_tolerance: float = 0.10  # relative
    seconds_tolerance_s: float = 0.3  # absolute; the larger of the two applies
    pitch_tolerance_semitones: float = 1.0


@dataclass(frozen=True)
class SoundEstimate(SoundAttributes):
    """The contract's attributes (``SoundAttributes``, the fields the sound corpus writes)
    estimated from audio; ``events`` holds the evidence."""

    events: list[Event] = field(default_factory=list, compare=False)

    def to_dict(self) -> dict:
        """The contract's keys only."""
        return {k: v for k, v in asdict(self).items() if k in ATTRIBUTES}


def _frame(seconds: float) -> int:
    return int(round(seconds / FRAME_SECONDS))


def _samples(x: np.ndarray, events: list[Event]) -> np.ndarray:
    parts = [x[int(e.start * SAMPLE_RATE) : int(e.end * SAMPLE_RATE)] for e in events]
    return np.concatenate(parts) if parts else np.zeros(0)


@dataclass(frozen=True)
class _Part:
    """Events judged on one waveform (the clip, or a mixture's foreground residual)."""

    events: list[Event]
    speech_f0: np.ndarray  # (n,) of that waveform
    audio: np.ndarray  # (s,) that waveform


def _judge_events(
    x: np.ndarray, detected: Events, segments: list[Segment], cfg: JudgeConfig
) -> _Part:
    """Classify ``segments`` of waveform x (s,) and merge speech pieces."""
    n = len(detected.level_db)
    power = power_spectrogram(x)[:n]  # (n, k)
    tracks = Tracks(peak_track(power), wide_f0(x, n), speech_f0(x, n), power)
    events = [classify(s, detected, tracks, cfg.kinds, cfg.speech) for s in segments]
    return _Part(merge_speech(events, cfg.kinds), tracks.speech_f0, x)


def _mixture(x: np.ndarray, layers: Layers, n: int, cfg: JudgeConfig) -> _Part:
    """The foreground events of a mixture, judged on its residual (background removed)."""
    level = frame_db(layers.residual)[:n]  # (n,)
    inside = level[_frame(layers.start) : _frame(layers.end)]
    peak = float(inside.max()) if len(inside) else float(level.max())
    pieces = layers.foreground
    median = float(np.median(inside))
    split = _judge_events(layers.residual, Events(pieces, level, median, peak), pieces, cfg)
    pitches = [e.pitch_hz for e in split.events if e.kind == "tone" and e.pitch_hz]
    same = len(pitches) == len(split.events) and np.ptp(12 * np.log2(pitches)) <= 1.0
    if len(pieces) == 1 or same:  # one sound, or k beeps of one pitch
        return split
    span = Segment(pieces[0].start, pieces[-1].end)
    whole = _judge_events(layers.residual, Events([span], level, median, peak), [span], cfg)
    return whole if whole.events[0].kind == "speech" else split  # speech is one event


def _fade(
    detected: Events, noises: list[Event], backgrounds: list[Layers], cfg: FadeConfig
) -> str | None:
    """Fade direction of the first noise (event or mixture background) that has one."""
    tracks = [(Segment(b.start, b.end), b.level_db) for b in backgrounds if b.kind == "noise"]
    tracks += [(Segment(e.start, e.end), detected.level_db) for e in noises]
    for segment, level in sorted(tracks, key=lambda t: t[0].start):
        inside = level[_frame(segment.start) : _frame(segment.end)]
        if len(inside):
            events = Events([segment], level, detected.floor_db, float(inside.max()))
            direction = fade_direction(events, cfg)
            if direction is not None:
                return direction
    return None


def _order(events: list[Event]) -> list[str]:
    """Kinds in time order, repeats in a row collapsed (k beeps are one tone event)."""
    kinds = [e.kind for e in events]
    return [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]


def judge_clip(
    wav: np.ndarray,
    sample_rate: int,
    config: JudgeConfig | None = None,
    transcriber: Transcriber | None = None,
) -> SoundEstimate:
    """Estimate the contract attributes of one mono clip (s,) at ``sample_rate`` ≥ 16 kHz."""
    cfg = config or JudgeConfig()
    x = check_wav(wav, sample_rate)
    detected = detect_events(x, cfg.onsets)
    n = len(detected.level_db)
    backgrounds: list[Layers] = []
    plain: list[Segment] = []
    for segment in detected.segments:
        layers = split_layers(x, segment, n, cfg.layers)
        if layers is None:
            plain.append(segment)
        else:
            backgrounds.append(layers)
    parts = [_judge_events(x, detected, plain, cfg)] if plain else []
    parts += [_mixture(x, b, n, cfg) for b in backgrounds]
    bg_events = [Event(b.kind, b.start, b.end, b.pitch_hz) for b in backgrounds]
    events = sorted([*bg_events, *(e for p in parts for e in p.events)], key=lambda e: e.start)

    steady = [e for e in events if e.kind in ("tone", "pluck") and e.pitch_hz]
    tonal = steady or [e for e in events if e.kind in TONAL_KINDS and e.pitch_hz]
    main = max(tonal, key=lambda e: e.seconds, default=None)  # first of the longest
    noises = [e for e in events if e.kind == "noise" and e not in bg_events]
    noise = _samples(x, noises)
    shapes = [b.shape for b in backgrounds if b.kind == "noise"]
    if shapes:
        colour = colour_from_slope(psd_slope(bin_hz(), shapes[0]))
    else:
        colour = noise_colour(noise) if len(noise) >= MIN_SAMPLES else None
    speech = [(e, p) for p in parts for e in p.events if e.kind == "speech"]
    if speech and transcriber is not None:
        audio = np.concatenate([_samples(p.audio, [e]) for e, p in speech])
        words = transcriber.transcribe(audio.astype(np.float32), SAMPLE_RATE).split()
        speech = speech if len(words) >= cfg.speech.min_words else []
    voiced = np.concatenate(
        [p.speech_f0[_frame(e.start) : _frame(e.end)] for e, p in speech] or [np.zeros(0)]
    )
    return SoundEstimate(
        count=len(events),
        pitch_hz=main.pitch_hz if main else None,
        noise_colour=colour,
        speech=bool(speech),
        sex=sex_from_f0(voiced, cfg.speech) if speech else None,
        fade=_fade(detected, noises, backgrounds, cfg.fade),
        seconds=active_seconds(detected.segments),
        order=_order(events),
        events=events,
    )


def score(
    estimate: SoundEstimate, truth: Mapping, config: JudgeConfig | None = None
) -> dict[str, bool | float]:
    """Per-attribute verdicts for the attributes ``truth`` defines (see module docstring);
    ``pitch_semitones`` is the pitch error in semitones when both have a pitch."""
    cfg = config or JudgeConfig()
    if not isinstance(truth, Mapping):
        raise FlowvoxError(
            f"sound truth: expected a dict of attributes, got {type(truth).__name__}"
        )
    out: dict[str, bool | float] = {}
    if "count" in truth:
        out["count"] = estimate.count == int(truth["count"])
    if truth.get("pitch_hz") is not None:
        out["pitch_hz"] = pitch_correct(
            estimate.pitch_hz, float(truth["pitch_hz"]), cfg.pitch_tolerance_semitones
        )
        if estimate.pitch_hz is not None:
            out["pitch_semitones"] = semitone_error(estimate.pitch_hz, float(truth["pitch_hz"]))
    for key in ("noise_colour", "fade"):
        if key in truth:
            out[key] = getattr(estimate, key) == truth[key]
    if "speech" in truth:
        out["speech"] = estimate.speech == bool(truth["speech"])
        if truth["speech"] and truth.get("sex") is not None:
            out["sex"] = estimate.sex == truth["sex"]
    if "seconds" in truth:
        want = float(truth["seconds"])
        tolerance = max(cfg.seconds_tolerance * want, cfg.seconds_tolerance_s)
        out["seconds"] = abs(estimate.seconds - want) <= tolerance
    if "order" in truth:
        out["order"] = list(estimate.order) == list(truth["order"])
    return out


@dataclass(frozen=True)
class AttributeAccuracy:
    """Share of clips judged right on one attribute, out of the clips whose truth has it."""

    accuracy: float
    correct: int
    total: int


def attribute_accuracy(
    pairs: Iterable[tuple[SoundEstimate, Mapping]], config: JudgeConfig | None = None
) -> dict[str, AttributeAccuracy]:
    """Accuracy of every attribute over (estimate, truth) pairs; attributes no truth defines
    are left out. Float entries of ``score`` (the pitch error) are not accuracies and are
    skipped."""
    correct: dict[str, int] = {}
    total: dict[str, int] = {}
    for estimate, truth in pairs:
        for key, verdict in score(estimate, truth, config).items():
            if isinstance(verdict, bool):
                correct[key] = correct.get(key, 0) + int(verdict)
                total[key] = total.get(key, 0) + 1
    return {
        k: AttributeAccuracy(correct[k] / total[k], correct[k], total[k])
        for k in ATTRIBUTES
        if k in total
    }
