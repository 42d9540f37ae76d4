"""The split rule: held-out combinations never reach training, but their parts do."""

from collections import Counter

import pytest

from flowvox.data.sounds.attributes import SoundAttributes, pitch_band
from flowvox.data.sounds.held_out import HELD_OUT, held_out_combo, split_of
from flowvox.data.sounds.plan import plan_sounds


@pytest.fixture(scope="module")
def plans(sentences):
    return plan_sounds(3000, seed=0, seconds=10.24, sentences=sentences)


def test_held_out_combinations_are_never_in_train(plans):
    for p in plans:
        assert (p.split == "test_unseen") == (held_out_combo(p.attributes) is not None)
        assert p.held_out == held_out_combo(p.attributes)
    found = Counter(p.held_out for p in plans if p.split == "test_unseen")
    assert set(found) == set(HELD_OUT)  # every combination is drawn and held out
    splits = Counter(p.split for p in plans)
    assert 0.02 < splits["test"] / len(plans) < 0.08
    assert 0.02 < splits["test_unseen"] / len(plans) < 0.12


def test_every_single_value_is_seen_in_training(plans):
    train = [p.attributes for p in plans if p.split == "train"]
    assert {a.noise_colour for a in train} >= {"white", "pink", "brown"}
    assert {a.fade for a in train} >= {"in", "out"}
    assert {a.sex for a in train} >= {"male", "female"}
    assert {pitch_band(a.pitch_hz) for a in train} >= {"low", "mid", "high"}
    alone = [a for a in train if a.order == ["tone"]]
    assert {a.count for a in alone} == {1, 2, 3, 4, 5}
    assert any(pitch_band(a.pitch_hz) == "high" for a in alone)
    assert any(a.noise_colour == "brown" for a in train)
    assert any(a.fade == "in" for a in train)
    beeps_then_speech = [a for a in train if a.order == ["tone", "speech"] and a.count >= 3]
    assert {a.sex for a in beeps_then_speech} == {"male"}
    assert any(a.sex == "female" and a.order == ["speech"] for a in train)


def _attributes(**changes) -> SoundAttributes:
    base = dict(count=1, pitch_hz=None, noise_colour=None, speech=False, sex=None, fade=None,
                seconds=1.0, order=["noise"])  # fmt: skip
    return SoundAttributes(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "combo"),
    [
        (dict(order=["tone"], pitch_hz=1200.0, count=4), "many_high_beeps"),
        (dict(order=["tone"], pitch_hz=1200.0, count=3), None),
        (dict(order=["tone"], pitch_hz=600.0, count=5), None),
        (dict(noise_colour="brown", fade="in"), "brown_noise_fading_in"),
        (dict(noise_colour="brown", fade="out"), None),
        (dict(order=["tone", "speech"], speech=True, sex="female", count=3),
         "female_speech_after_beeps"),
        (dict(order=["tone", "speech"], speech=True, sex="male", count=3), None),
        (dict(order=["speech", "tone"], speech=True, sex="female", count=3), None),
    ],
)  # fmt: skip
def test_the_rule_is_a_function_of_the_attributes(changes, combo):
    attributes = _attributes(**changes)
    assert held_out_combo(attributes) == combo
    assert split_of("snd000001", attributes) == split_of("snd000001", attributes)
    if combo is not None:
        assert split_of("snd000001", attributes) == ("test_unseen", combo)
