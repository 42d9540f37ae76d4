"""Clip plans: deterministic per (seed, clip), independent of the corpus size, inside the clip."""

import re
from collections import Counter

import pytest

from flowvox.data.sounds.attributes import PITCH_BANDS, pitch_band
from flowvox.data.sounds.captions import BAND_WORDS, FADE_WORDS, NUMBER_WORDS, TEMPLATES
from flowvox.data.sounds.plan import FEMALE_VOICES, MALE_VOICES, SOURCES, plan_sounds
from flowvox.errors import FlowvoxError


@pytest.fixture(scope="module")
def plans(sentences):
    return plan_sounds(1500, seed=7, seconds=10.24, sentences=sentences)


def test_same_seed_same_plans_and_growing_keeps_earlier_clips(sentences, plans):
    again = plan_sounds(40, seed=7, seconds=10.24, sentences=sentences)
    assert again == plans[:40]
    other = plan_sounds(40, seed=8, seconds=10.24, sentences=sentences)
    assert [p.caption for p in other] != [p.caption for p in again]


def test_every_construct_and_source_is_drawn(plans):
    assert set(Counter(p.construct for p in plans)) == {"single", "sequence", "mixture"}
    assert set(Counter(s for p in plans for s in p.sources)) == set(SOURCES)


@pytest.mark.parametrize("seconds", [10.24, 4.0, 1.5])
def test_events_fit_inside_the_clip_in_time_order(sentences, seconds):
    for p in plan_sounds(200, seed=1, seconds=seconds, sentences=sentences):
        assert 0 < p.events[0].start and max(e.end for e in p.events) <= seconds
        assert [e.start for e in p.events] == sorted(e.start for e in p.events)
        assert all(e.end > e.start for e in p.events)
        groups = [SOURCES[s][0] for s in p.sources]
        assert len(groups) == len(set(groups))  # one tonal, one noise, one speech at most


def test_drawn_values_stay_in_their_ranges(plans):
    events = [e for p in plans for e in p.events]
    for e in events:
        if e.kind in ("tone", "pluck"):
            low, high = PITCH_BANDS[pitch_band(e.pitch_hz)]
            assert low <= e.pitch_hz <= high
        if e.envelope in ("beeps", "pulses"):
            assert 1 <= e.count <= 5 and e.count * e.burst_s < e.end - e.start + 1e-9
        if e.kind == "speech":
            assert e.voice in (MALE_VOICES if e.sex == "male" else FEMALE_VOICES)
            assert len(e.text.split()) <= 8
    assert {e.count for e in events if e.envelope == "beeps"} == {1, 2, 3, 4, 5}


def test_bad_sizes_are_refused(sentences):
    with pytest.raises(FlowvoxError, match="--clips 0"):
        plan_sounds(0, 0, 10.24, sentences)
    for seconds in (0.0, -1.0, 0.5, float("nan"), float("inf")):
        with pytest.raises(FlowvoxError, match="--seconds"):
            plan_sounds(3, 0, seconds, sentences)


def _words(caption: str) -> set[str]:
    return set(re.findall(r"[a-z'-]+", caption))


def test_captions_name_what_the_clip_holds(plans):
    for p in plans:
        assert len(p.captions) >= 3 and p.caption in p.captions
        assert len(p.captions) <= len(TEMPLATES[p.construct])
        for caption in p.captions:
            words = _words(caption)
            for e in p.events:
                if e.kind in ("tone", "pluck"):
                    assert any(w in caption for w in BAND_WORDS[pitch_band(e.pitch_hz)]), caption
                if e.envelope in ("beeps", "pulses"):
                    count_words = {NUMBER_WORDS[e.count]} | ({"single"} if e.count == 1 else set())
                    assert words & count_words, caption
                if e.kind == "noise":
                    assert e.colour in words, caption
                if e.envelope.startswith("fade_"):
                    fade = e.envelope.removeprefix("fade_")
                    assert any(w in caption for w in FADE_WORDS[fade]), caption
                if e.kind == "speech" and e.sex == "female":
                    assert words & {"woman", "female"}, caption
                if e.kind == "speech" and e.sex == "male":
                    assert words & {"man", "male", "man's"}, caption
                    assert not words & {"woman", "female"}, caption
                if e.kind == "sweep":
                    up = e.pitch_end_hz > e.pitch_hz
                    assert words & ({"rising", "up"} if up else {"falling", "down"}), caption


def test_sequences_are_captioned_in_time_order(plans):
    sequences = [p for p in plans if p.sources == ["beeps", "speech"]]
    assert sequences
    for sequence in sequences:
        number = NUMBER_WORDS[sequence.events[0].count]
        for caption in sequence.captions:
            if ", then " in caption or "followed by" in caption:
                beeps = re.search(rf"\b({number}|single)\b", caption).start()
                person = re.search(r"\b(man|woman|male|female)\b", caption).start()
                assert beeps < person, caption
