"""The flat attributes (the judges' contract) computed from a clip's events."""

import pytest

from flowvox.data.sounds.attributes import Event, SoundAttributes, pitch_band
from flowvox.errors import FlowvoxError

BEEPS = Event("tone", wave="sine", pitch_hz=1500.0, envelope="beeps", count=3,
              start=0.5, end=1.3, burst_s=0.1)  # fmt: skip
SPEECH = Event("speech", sex="male", text="A short one.", voice="flite:rms", start=1.8, end=3.6)
NOISE = Event("noise", colour="pink", envelope="fade_out", start=0.2, end=4.0, gain_db=-9.0)


def test_beeps_then_a_man_speaking():
    attributes = SoundAttributes.from_events([SPEECH, BEEPS])  # any order in, time order out
    assert attributes.to_dict() == {
        "count": 4, "pitch_hz": 1500.0, "noise_colour": None, "speech": True, "sex": "male",
        "fade": None, "seconds": 3.1, "order": ["tone", "speech"],
    }  # fmt: skip


def test_fading_noise_under_a_pluck():
    pluck = Event("pluck", pitch_hz=250.0, start=1.0, end=2.0)
    attributes = SoundAttributes.from_events([NOISE, pluck])
    assert (attributes.count, attributes.pitch_hz, attributes.noise_colour) == (2, 250.0, "pink")
    assert (attributes.fade, attributes.order) == ("out", ["noise", "pluck"])
    assert not attributes.speech
    assert attributes.seconds == pytest.approx(3.8)


def test_a_sweep_has_no_single_pitch():
    sweep = Event("sweep", wave="sine", pitch_hz=300.0, pitch_end_hz=1500.0, start=0.1, end=1.0)
    assert SoundAttributes.from_events([sweep]).pitch_hz is None


def test_dicts_round_trip_and_unknown_keys_are_refused():
    attributes = SoundAttributes.from_events([BEEPS, SPEECH])
    assert SoundAttributes.from_dict(attributes.to_dict()) == attributes
    assert Event.from_dict(BEEPS.to_dict()) == BEEPS
    with pytest.raises(FlowvoxError, match="keys"):
        SoundAttributes.from_dict({**attributes.to_dict(), "loudness": 3})


@pytest.mark.parametrize(
    ("hz", "band"), [(200.0, "low"), (350.0, "low"), (440.0, "mid"), (700.0, "mid"),
                     (1000.0, "high"), (2000.0, "high"), (None, None)],
)  # fmt: skip
def test_pitch_bands(hz, band):
    assert pitch_band(hz) == band
