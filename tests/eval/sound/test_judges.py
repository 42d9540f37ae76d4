"""The judges on known audio: every attribute of the contract against sox/numpy/flite clips."""

import numpy as np
import pytest

from flowvox.errors import FlowvoxError
from flowvox.eval.sound.judges import (
    ATTRIBUTES,
    SoundEstimate,
    attribute_accuracy,
    judge_clip,
    score,
)

from .make_audio import (
    SENTENCES,
    SR,
    VOICES,
    Clip,
    beeps,
    beeps_then_speech,
    noise,
    plucks,
    speech,
    sweep,
)


def _estimate(**changes) -> SoundEstimate:
    base = dict(count=2, pitch_hz=440.0, noise_colour=None, speech=True, sex="male", fade=None,
                seconds=3.0, order=["tone", "speech"])  # fmt: skip
    return SoundEstimate(**{**base, **changes})


def test_score_rules():
    truth = dict(count=2, pitch_hz=440.0 * 2 ** (0.5 / 12), noise_colour=None, speech=True,
                 sex="male", fade=None, seconds=3.25, order=["tone", "speech"])  # fmt: skip
    verdict = score(_estimate(), truth)
    assert all(verdict[k] is True for k in ATTRIBUTES)
    assert verdict["pitch_semitones"] == pytest.approx(0.5)
    wrong = score(_estimate(count=3, pitch_hz=500.0, sex="female", fade="in", seconds=3.7), truth)
    assert not any(wrong[k] for k in ("count", "pitch_hz", "sex", "fade", "seconds"))
    # seconds: max(10 %, 0.3 s) tolerance
    assert score(_estimate(seconds=11.0), {"seconds": 10.0})["seconds"]
    assert not score(_estimate(seconds=11.1), {"seconds": 10.0})["seconds"]
    assert score(_estimate(seconds=1.29), {"seconds": 1.0})["seconds"]
    # pitch and sex are scored only where the truth defines them
    undefined = score(_estimate(), {"pitch_hz": None, "speech": False, "sex": None})
    assert set(undefined) == {"speech"} and undefined["speech"] is False
    with pytest.raises(FlowvoxError, match="dict"):
        score(_estimate(), [1, 2])


def test_attribute_accuracy_counts_only_defined_attributes():
    pairs = [
        (_estimate(), {"count": 2, "pitch_hz": 440.0}),
        (_estimate(count=1), {"count": 2, "pitch_hz": None}),
        (_estimate(), {"count": 2, "speech": True, "sex": "female"}),
    ]
    acc = attribute_accuracy(pairs)
    assert (acc["count"].correct, acc["count"].total) == (2, 3)
    assert acc["count"].accuracy == pytest.approx(2 / 3)
    assert (acc["pitch_hz"].correct, acc["pitch_hz"].total) == (1, 1)
    assert (acc["sex"].correct, acc["sex"].total) == (0, 1)
    assert "fade" not in acc and "pitch_semitones" not in acc


def test_silence_is_nothing():
    estimate = judge_clip(np.zeros(int(10.24 * SR)), SR)
    assert estimate.to_dict() == {
        "count": 0, "pitch_hz": None, "noise_colour": None, "speech": False, "sex": None,
        "fade": None, "seconds": 0.0, "order": [],
    }  # fmt: skip


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_beeps_every_attribute(k):
    clip = beeps(k, [220, 330, 440, 660, 1000][k - 1])
    verdict = score(judge_clip(clip.render(), SR), clip.truth)
    assert all(verdict[a] for a in ATTRIBUTES if a in verdict), verdict


def _known_clips() -> list[Clip]:
    clips = [beeps(k, f) for k, f in zip(range(1, 6), [220, 330, 440, 660, 1000], strict=True)]
    clips += [noise(c) for c in ("white", "pink", "brown")]
    clips += [noise(c, 6.0, fade=d) for c in ("white", "pink", "brown") for d in ("in", "out")]
    clips += [sweep(300, 1200), sweep(2000, 500), plucks(1, 196), plucks(3, 262)]
    silence = Clip()
    silence.truth = silence.contract()
    clips += [silence]
    clips += [speech(v, t) for v in sorted(VOICES) for t in SENTENCES]
    clips += [beeps_then_speech(k, 550, ("slt", "rms")[k % 2], SENTENCES[k - 1]) for k in (1, 2, 3)]
    return clips


@pytest.mark.slow
def test_attribute_accuracy_on_known_audio():
    """28 clips: 1–5 beeps, 3 steady noises, 6 fading noises, 2 sweeps, 1 and 3 plucks,
    silence, 6 flite sentences (rms male, slt female), 1–3 beeps then a sentence."""
    clips = _known_clips()
    pairs = [(judge_clip(c.render(), SR), c.truth) for c in clips]
    acc = attribute_accuracy(pairs)
    totals = {k: v.total for k, v in acc.items()}
    assert totals == {"count": 28, "pitch_hz": 12, "noise_colour": 28, "speech": 28, "sex": 9,
                      "fade": 28, "seconds": 28, "order": 28}  # fmt: skip
    wrong = {k: v.accuracy for k, v in acc.items() if v.accuracy < 1.0}
    assert not wrong, wrong
