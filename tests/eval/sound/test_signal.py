import numpy as np
import pytest

from flowvox.errors import FlowvoxError
from flowvox.eval.sound.judges import judge_clip
from flowvox.eval.sound.signal import check_wav, frame_db, num_frames

from .make_audio import SR, tone


@pytest.mark.parametrize(
    ("wav", "rate", "words"),
    [
        (np.zeros(0), SR, "empty"),
        (np.array([0.0, np.nan, 0.1] * 1000), SR, "NaN"),
        (np.zeros(8000), 8000, "sample rate"),
        (np.zeros(16000), 16000.5, "sample rate"),
        (np.zeros((2, 16000)), SR, "mono"),
    ],
)
def test_bad_input_is_one_line_flowvox_error(wav, rate, words):
    with pytest.raises(FlowvoxError, match=words) as info:
        judge_clip(wav, rate)
    assert "\n" not in str(info.value)


def test_higher_rates_are_resampled_to_16k():
    t = np.arange(24000) / 24000
    x = check_wav(0.5 * np.sin(2 * np.pi * 440 * t), 24000)
    assert len(x) == 16000
    assert judge_clip(0.5 * np.sin(2 * np.pi * 440 * t), 24000).pitch_hz == pytest.approx(
        440, rel=0.01
    )


def test_column_vector_counts_as_mono():
    assert check_wav(np.zeros((1600, 1)), SR).shape == (1600,)


def test_frame_level_of_a_full_scale_sine_is_minus_3_db():
    level = frame_db(check_wav(tone(1000, 1.0, amp=1.0), SR))
    assert len(level) == num_frames(SR) == 100
    assert np.median(level) == pytest.approx(-3.01, abs=0.05)
