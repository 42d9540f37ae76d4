"""Voice change on a synthetic vowel: each knob moves what it claims, and only that."""
# n: samples

import librosa
import numpy as np
import pytest

from flowvox.audio.voice_change import VoiceChange, change_voice, wsola
from flowvox.errors import FlowvoxError

SR = 16000
F0 = 150.0
FORMANTS = ((700.0, 100.0), (1200.0, 120.0), (2600.0, 200.0))  # (centre, bandwidth) in Hz


def vowel(f0: float = F0, seconds: float = 1.0) -> np.ndarray:
    """Harmonics of f0 up to 7 kHz shaped by three resonances; (n,) at SR."""
    t = np.arange(round(SR * seconds)) / SR
    wav = np.zeros_like(t)
    for h in range(1, int(7000 / f0)):
        amp = sum(1 / (1 + ((h * f0 - c) / b) ** 2) for c, b in FORMANTS)
        wav += amp * np.sin(2 * np.pi * h * f0 * t + 0.3 * h)
    return (0.5 * wav / np.abs(wav).max()).astype(np.float32)


def f0_of(wav: np.ndarray) -> float:
    f0, _, _ = librosa.pyin(wav, fmin=60, fmax=500, sr=SR, frame_length=1024)
    return float(np.nanmedian(f0))


def centroid(wav: np.ndarray) -> float:
    return float(librosa.feature.spectral_centroid(y=wav, sr=SR).mean())


def slope_db_per_octave(wav: np.ndarray, f0: float = F0) -> float:
    """Least-squares slope of the harmonics' levels (dB) against log2 frequency, 300-6000 Hz."""
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    freqs = np.fft.rfftfreq(len(wav), 1 / SR)
    harmonics = np.arange(2, int(6000 / f0)) * f0
    levels = [20 * np.log10(spectrum[np.argmin(np.abs(freqs - h))]) for h in harmonics]
    return float(np.polyfit(np.log2(harmonics), levels, 1)[0])


@pytest.mark.parametrize("semitones", [-4.0, 3.0])
def test_pitch_shift_moves_f0_by_the_semitones_and_keeps_length_and_formants(semitones):
    src = vowel()
    out = change_voice(src, SR, VoiceChange(semitones=semitones))
    assert f0_of(out) == pytest.approx(F0 * 2 ** (semitones / 12), rel=0.015)
    assert abs(len(out) - len(src)) <= 2
    assert centroid(out) == pytest.approx(centroid(src), rel=0.05)  # formants stay


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_rate_divides_the_duration_and_keeps_the_pitch(rate):
    src = vowel()
    out = change_voice(src, SR, VoiceChange(rate=rate))
    assert len(out) == round(len(src) / rate)
    assert f0_of(out) == pytest.approx(F0, rel=0.01)


def test_wsola_keeps_a_steady_tone_steady():
    src = vowel(seconds=0.5)
    out = wsola(src, SR, 1.3)
    assert len(out) == round(len(src) / 1.3)
    middle = out[800:-800]  # away from the edges, the level of the source
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(np.sqrt(np.mean(src**2)), rel=0.05)


@pytest.mark.parametrize(("vtl", "direction"), [(1.12, 1), (0.88, -1)])
def test_vtl_moves_the_formants_not_the_pitch(vtl, direction):
    src = vowel()
    out = change_voice(src, SR, VoiceChange(vtl=vtl))
    assert direction * (centroid(out) - centroid(src)) > 0.05 * centroid(src)
    assert f0_of(out) == pytest.approx(F0, rel=0.01)
    assert len(out) == len(src)


@pytest.mark.parametrize("tilt", [-3.0, 2.0])
def test_tilt_changes_the_spectral_slope_by_the_requested_db_per_octave(tilt):
    src = vowel()
    out = change_voice(src, SR, VoiceChange(tilt_db_per_octave=tilt))
    assert slope_db_per_octave(out) - slope_db_per_octave(src) == pytest.approx(tilt, abs=0.3)


def test_identity_leaves_the_audio_alone_and_changes_are_deterministic():
    src = vowel(seconds=0.4)
    assert np.array_equal(change_voice(src, SR, VoiceChange()), src)
    change = VoiceChange(semitones=2.5, vtl=0.95, tilt_db_per_octave=1.0, rate=1.1)
    one, two = change_voice(src, SR, change), change_voice(src, SR, change)
    assert one.dtype == np.float32 and np.array_equal(one, two)
    assert np.all(np.isfinite(one)) and np.abs(one).max() > 0.05


@pytest.mark.parametrize(
    ("change", "message"),
    [({"vtl": 3.0}, "vtl=3.0"), ({"rate": 0.0}, "rate=0.0"), ({"semitones": 30}, "semitones"),
     ({"tilt_db_per_octave": -20}, "tilt_db_per_octave")],
)  # fmt: skip
def test_out_of_range_changes_are_refused(change, message):
    with pytest.raises(FlowvoxError, match=message):
        VoiceChange(**change)


def test_stereo_audio_is_refused():
    with pytest.raises(FlowvoxError, match="mono"):
        change_voice(np.zeros((2, 100), np.float32), SR, VoiceChange(rate=1.1))
