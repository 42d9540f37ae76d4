"""Rendered audio, checked with plain numpy: pitch, bursts, noise colour, fades, silence."""

import numpy as np
import pytest

from flowvox.data.sounds.attributes import Event
from flowvox.data.sounds.plan import plan_sounds
from flowvox.data.sounds.render import SAMPLE_RATE, render_clip, render_event
from tests.data.sounds.probes import count_bursts, frame_rms, peak_hz

SR = SAMPLE_RATE


def _inside(wav: np.ndarray, events: list[Event]) -> np.ndarray:
    """(n,) bool: samples inside some event."""
    inside = np.zeros(len(wav), dtype=bool)
    for e in events:
        inside[round(e.start * SR) : round(e.end * SR)] = True
    return inside


@pytest.mark.parametrize("wave", ["sine", "square", "saw"])
@pytest.mark.parametrize("pitch", [250.0, 550.0, 1500.0])
def test_a_steady_tone_peaks_at_its_pitch_and_is_silent_elsewhere(wave, pitch):
    tone = Event("tone", wave=wave, pitch_hz=pitch, start=0.3, end=1.3)
    wav = render_clip([tone], 2.0)
    assert wav.shape == (2 * SR,) and wav.dtype == np.float32
    assert peak_hz(wav[round(0.4 * SR) : round(1.2 * SR)], SR) == pytest.approx(pitch, abs=5)
    assert not np.any(wav[~_inside(wav, [tone])])
    rms = frame_rms(wav[round(0.3 * SR) : round(1.3 * SR)], SR, 0.05)  # (20,)
    assert rms.min() > 0.2 * rms.max()  # sounds over the whole event


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("envelope", ["beeps", "pulses"])
def test_k_beeps_are_k_bursts(count, envelope):
    burst, gap = (0.1, 0.2) if envelope == "beeps" else (0.35, 0.15)
    end = round(0.2 + count * burst + (count - 1) * gap, 3)
    beeps = Event("tone", wave="square", pitch_hz=600.0, envelope=envelope, count=count,
                  start=0.2, end=end, burst_s=burst)  # fmt: skip
    wav = render_clip([beeps], 3.5)
    assert count_bursts(wav, SR) == count
    loud = np.flatnonzero(frame_rms(wav, SR) > 0.1 * frame_rms(wav, SR).max()) * 0.005  # (s,)
    assert loud[0] == pytest.approx(0.2, abs=0.015) and loud[-1] == pytest.approx(end, abs=0.015)
    assert not np.any(wav[~_inside(wav, [beeps])])


def _band_energy(wav: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(wav)) ** 2
    freqs = np.fft.rfftfreq(len(wav), 1.0 / SR)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_noise_colours_tilt_from_white_to_brown():
    tilt = {}
    for colour in ("white", "pink", "brown"):
        wav = render_event(Event("noise", colour=colour, start=0.0, end=1.0))
        tilt[colour] = _band_energy(wav, 50, 500) / _band_energy(wav, 2000, 6000)
    # white: equal energy per Hz (ratio ~ 450/4000); pink and brown lean ever lower
    assert tilt["white"] < 0.3 < tilt["pink"] < tilt["brown"]


def test_noise_offsets_give_different_noise_with_the_same_colour():
    first = render_event(Event("noise", colour="white", end=0.5))
    again = render_event(Event("noise", colour="white", end=0.5))
    later = render_event(Event("noise", colour="white", end=0.5, noise_offset_s=1.0))
    assert np.array_equal(first, again) and not np.allclose(first, later)


@pytest.mark.parametrize(("envelope", "louder_half"), [("fade_in", 1), ("fade_out", 0)])
def test_fades_move_the_energy(envelope, louder_half):
    wav = render_event(Event("noise", colour="pink", envelope=envelope, end=2.0))
    halves = [float(np.mean(h.astype(np.float64) ** 2)) for h in np.split(wav, 2)]
    assert halves[louder_half] > 3 * halves[1 - louder_half]


@pytest.mark.parametrize("pitch", [220.0, 1300.0])
def test_a_pluck_starts_loud_decays_and_has_its_pitch(pitch):
    pluck = Event("pluck", pitch_hz=pitch, start=0.2, end=1.2)
    wav = render_clip([pluck], 1.5)
    rms = frame_rms(wav[round(0.2 * SR) : round(1.2 * SR)], SR, 0.1)  # (10,)
    assert rms[0] > rms[-1] > 0 and not np.any(wav[~_inside(wav, [pluck])])
    head = wav[round(0.2 * SR) : round(0.7 * SR)]
    spectrum = np.abs(np.fft.rfft(head * np.hanning(len(head))))  # plucks are rich in harmonics
    freqs = np.fft.rfftfreq(len(head), 1.0 / SR)
    near = np.abs(freqs - pitch) < 0.01 * pitch
    assert spectrum[near].max() > 0.3 * spectrum.max()  # a strong fundamental ...
    assert spectrum[(freqs > 50) & (freqs < 0.8 * pitch)].max() < 0.1 * spectrum.max()  # lowest


@pytest.mark.parametrize(("start", "end"), [(300.0, 1500.0), (1800.0, 250.0)])
def test_sweeps_glide_between_their_pitches(start, end):
    wav = render_event(Event("sweep", wave="sine", pitch_hz=start, pitch_end_hz=end, end=2.0))
    head, tail = wav[: SR // 5], wav[-SR // 5 :]
    assert (peak_hz(head, SR) < peak_hz(tail, SR)) == (start < end)


def test_speech_fills_its_slot_exactly():
    speech = Event("speech", sex="female", text="The dog barked at the moon.",
                   voice="flite:slt", start=0.5, end=2.5)  # fmt: skip
    wav = render_clip([speech], 3.0)
    assert not np.any(wav[~_inside(wav, [speech])])
    rms = frame_rms(wav[round(0.5 * SR) : round(2.5 * SR)], SR, 0.1)  # (20,)
    assert np.count_nonzero(rms > 0.01) >= 14  # voiced over most of the slot


def test_planned_clips_sound_where_their_events_are(sentences):
    plans = plan_sounds(40, seed=5, seconds=4.0, sentences=sentences)
    checked = 0
    for p in plans:
        if p.construct == "single" and p.sources[0] in ("beeps", "tone", "speech"):
            wav = render_clip(p.events, 4.0)
            assert not np.any(wav[~_inside(wav, p.events)])
            if p.sources[0] == "beeps":
                assert count_bursts(wav, SR) == p.attributes.count
            if p.sources[0] == "tone":
                event = p.events[0]
                middle = wav[round((event.start + 0.1) * SR) : round((event.end - 0.1) * SR)]
                assert peak_hz(middle, SR) == pytest.approx(p.attributes.pitch_hz, abs=5)
            checked += 1
    assert checked >= 5
