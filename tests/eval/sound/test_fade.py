import numpy as np
import pytest

from flowvox.eval.sound.fade import fade_direction, level_trend
from flowvox.eval.sound.onsets import detect_events
from flowvox.eval.sound.signal import check_wav

from .make_audio import SR, beeps, noise, plucks, sox_synth, tone


def _fade(wav: np.ndarray) -> str | None:
    return fade_direction(detect_events(check_wav(wav, SR)))


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
@pytest.mark.parametrize("direction", ["in", "out"])
def test_noise_fading_over_its_length(colour, direction):
    assert _fade(noise(colour, seconds=6.0, fade=direction).render()) == direction


@pytest.mark.parametrize(
    ("effects", "direction"),
    [
        (["fade", "t", "2"], "in"),  # linear fade over the first 2 s of 6
        (["fade", "q", "3"], "in"),  # quarter-sine
        (["fade", "l", "3"], "in"),  # logarithmic
        (["fade", "t", "0", "6", "2"], "out"),
        (["fade", "h", "0", "6", "3"], "out"),  # half-sine
    ],
)
def test_partial_and_shaped_fades(effects, direction):
    x = np.zeros(int(10.24 * SR))
    x[SR : 7 * SR] = sox_synth(6.0, "pinknoise", "vol", "0.5", *effects)
    assert _fade(x) == direction


def test_steady_sounds_beeps_and_plucks_have_no_fade():
    x = np.zeros(int(10.24 * SR))
    x[SR : 7 * SR] = sox_synth(6.0, "whitenoise", "vol", "0.5")
    assert _fade(x) is None
    assert _fade(beeps(5, 440).render()) is None
    assert _fade(plucks(3, 196).render()) is None
    assert _fade(plucks(1, 196).render()) is None  # a lone decay is not a fade


def test_trend_sign_and_size_of_a_linear_amplitude_ramp():
    t = np.linspace(0, 1, 4 * SR)
    ramp = tone(440, 4.0) * (0.01 + t)  # −40 dB → 0 dB
    trend = level_trend(detect_events(check_wav(ramp, SR)))
    assert trend.change_db > 15 and trend.r2 > 0.5
    assert level_trend(detect_events(check_wav(ramp[::-1].copy(), SR))).change_db < -15
    assert level_trend(detect_events(np.zeros(SR))).change_db == 0.0
