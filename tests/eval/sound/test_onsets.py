import numpy as np
import pytest

from flowvox.eval.sound.onsets import active_seconds, detect_events
from flowvox.eval.sound.signal import check_wav

from .make_audio import SR, Clip, beeps, tone


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_beeps_give_one_event_each_with_their_times(k):
    clip = beeps(k, 500, on=0.2, gap=0.25)
    events = detect_events(check_wav(clip.render(), SR))
    assert events.count == k
    for segment, (start, wav, _) in zip(events.segments, clip.parts, strict=True):
        assert segment.start == pytest.approx(start, abs=0.03)
        assert segment.end == pytest.approx(start + len(wav) / SR, abs=0.03)
    assert active_seconds(events.segments) == pytest.approx(clip.truth["seconds"], abs=0.05)


def test_silence_and_near_silence_have_no_events():
    assert detect_events(np.zeros(SR * 2)).count == 0
    quiet = 1e-4 * np.random.default_rng(0).standard_normal(SR * 2)  # −80 dBFS
    assert detect_events(quiet).count == 0
    assert active_seconds([]) == 0.0


def test_a_sound_filling_the_clip_is_one_event():
    events = detect_events(check_wav(tone(300, 3.0), SR))
    assert events.count == 1
    assert events.segments[0].seconds == pytest.approx(3.0, abs=0.03)


def test_short_gaps_merge_and_loudness_does_not_change_the_count():
    close = Clip().add(0.5, tone(440, 0.2), "tone").after(0.02, tone(440, 0.2), "tone")
    assert detect_events(check_wav(close.render(3.0), SR)).count == 1
    loud = detect_events(check_wav(beeps(3, 440).render(), SR)).count
    soft = detect_events(check_wav(0.01 * beeps(3, 440).render(), SR)).count
    assert loud == soft == 3
