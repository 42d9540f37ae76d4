import numpy as np
import pytest

from flowvox.errors import FlowvoxError
from flowvox.eval.sound.judges import judge_clip
from flowvox.eval.sound.pitch import pitch_correct, semitone_error

from .make_audio import SR, beeps, plucks, sweep


def test_semitone_error_formula():
    assert semitone_error(880, 440) == pytest.approx(12.0)
    assert semitone_error(440, 880) == pytest.approx(12.0)
    assert semitone_error(440 * 2 ** (1 / 12), 440) == pytest.approx(1.0)
    assert pitch_correct(440 * 2 ** (0.9 / 12), 440)
    assert not pitch_correct(440 * 2 ** (1.1 / 12), 440)
    assert not pitch_correct(None, 440)
    with pytest.raises(FlowvoxError, match="> 0"):
        semitone_error(0.0, 440)


@pytest.mark.parametrize("freq", [60, 110, 247, 440, 1000, 2500, 3800, 6500])
def test_beep_pitch_within_a_tenth_of_a_semitone(freq):
    estimate = judge_clip(beeps(2, freq).render(), SR)
    assert semitone_error(estimate.pitch_hz, freq) < 0.1


@pytest.mark.parametrize("freq", [110, 196, 440])
def test_pluck_pitch_is_its_fundamental_not_a_harmonic(freq):
    estimate = judge_clip(plucks(1, freq).render(), SR)
    assert estimate.order == ["pluck"]
    assert semitone_error(estimate.pitch_hz, freq) < 0.5


@pytest.mark.parametrize(("f0", "f1"), [(300, 1200), (2000, 500), (150, 3000)])
def test_sweep_pitch_is_its_start(f0, f1):
    estimate = judge_clip(sweep(f0, f1).render(), SR)
    assert estimate.order == ["sweep"]
    assert semitone_error(estimate.pitch_hz, f0) < 1.0


def test_noise_and_silence_have_no_pitch():
    assert judge_clip(np.zeros(SR), SR).pitch_hz is None
    rng = np.random.default_rng(0)
    assert judge_clip(0.3 * rng.standard_normal(3 * SR), SR).pitch_hz is None
