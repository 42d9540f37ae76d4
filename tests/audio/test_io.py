"""Loading, saving, resampling, loudness and trimming of waveforms."""

import numpy as np
import pytest
import soundfile as sf

from flowvox.audio.io import (
    is_silent,
    load_audio,
    loudness_normalize,
    resample,
    save_audio,
    trim_silence,
)
from flowvox.errors import FlowvoxError


def tone(sr: int, seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("suffix", "subtype"),
    [
        (".wav", "PCM_16"),
        (".wav", "PCM_24"),
        (".wav", "FLOAT"),
        (".flac", "PCM_16"),
        (".ogg", "VORBIS"),
    ],
)
def test_load_formats_and_mixdown(tmp_path, suffix, subtype):
    left, right = tone(16000, 0.5, amp=0.4), tone(16000, 0.5, amp=0.2)
    path = tmp_path / f"x{suffix}"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype=subtype)
    clip = load_audio(path)
    assert clip.sample_rate == 16000 and clip.wav.dtype == np.float32 and clip.wav.ndim == 1
    tol = 0.05 if subtype == "VORBIS" else 1e-3
    assert np.abs(clip.wav[:7000] - (left + right)[:7000] / 2).max() < tol


def test_int_pcm_scaled_to_unit_range(tmp_path):
    sf.write(tmp_path / "i.wav", np.array([16384, -32768, 0], dtype=np.int16), 8000)
    np.testing.assert_allclose(load_audio(tmp_path / "i.wav").wav, [0.5, -1.0, 0.0])


def test_load_resamples(tmp_path):
    sf.write(tmp_path / "a.wav", tone(44100, 1.0, freq=1000), 44100)
    clip = load_audio(tmp_path / "a.wav", sample_rate=24000)
    assert clip.sample_rate == 24000 and len(clip.wav) == 24000
    spectrum = np.abs(np.fft.rfft(clip.wav))
    assert abs(np.argmax(spectrum) * 24000 / len(clip.wav) - 1000) <= 1


def test_resample_preserves_tone_amplitude():
    out = resample(tone(48000, 1.0, amp=0.5), 48000, 16000)
    assert len(out) == 16000 and abs(np.abs(out[1000:-1000]).max() - 0.5) < 0.01


@pytest.mark.parametrize("problem", ["missing", "empty", "garbage"])
def test_bad_files_are_one_line_errors(tmp_path, problem):
    path = tmp_path / "bad.wav"
    if problem == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    elif problem == "garbage":
        path.write_bytes(b"RIFF not really a wav file at all")
    with pytest.raises(FlowvoxError) as err:
        load_audio(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_nan_audio_names_the_file(tmp_path):
    path = tmp_path / "nan.wav"
    wav = tone(16000, 0.2)
    wav[5] = np.nan
    sf.write(path, wav, 16000, subtype="FLOAT")
    with pytest.raises(FlowvoxError, match=r"nan\.wav: audio holds 1 NaN"):
        load_audio(path)


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    save_audio(tmp_path / "out" / "a.wav", tone(16000, 0.1), 16000)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.wav"]
    bad = tone(16000, 0.1)
    bad[0] = np.inf
    with pytest.raises(FlowvoxError):
        save_audio(tmp_path / "out" / "b.wav", bad, 16000)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.wav"]


@pytest.mark.parametrize("seconds", [0.2, 2.0])
def test_loudness_normalize_hits_target(seconds):
    import pyloudnorm

    sr = 24000
    quiet = tone(sr, seconds, amp=0.01)
    out = loudness_normalize(quiet, sr, target_lufs=-23.0)
    if seconds >= 0.4:
        assert abs(pyloudnorm.Meter(sr).integrated_loudness(out.astype(np.float64)) + 23) < 0.1
    else:  # short clips: RMS in dBFS
        assert abs(20 * np.log10(np.sqrt(np.mean(out**2))) + 23) < 0.1


def test_loudness_normalize_limits_peak_and_keeps_silence():
    loud = loudness_normalize(tone(24000, 1.0, amp=0.01), 24000, target_lufs=0.0)
    assert np.abs(loud).max() <= 0.99 + 1e-6
    silent = np.zeros(24000, dtype=np.float32)
    assert is_silent(silent) and loudness_normalize(silent, 24000) is silent


def test_trim_silence_cuts_edges():
    sr = 16000
    speech = tone(sr, 1.0)
    padded = np.concatenate([np.zeros(sr), speech, np.zeros(sr)]).astype(np.float32)
    trimmed = trim_silence(padded, sr, keep_ms=0)
    assert abs(len(trimmed) - len(speech)) <= 1024  # one analysis frame of slack


def test_trim_silence_agrees_with_librosa():
    import librosa

    rng = np.random.default_rng(1)
    sr = 16000
    speech = tone(sr, 0.7) * np.hanning(int(0.7 * sr)).astype(np.float32)
    wav = np.concatenate(
        [1e-4 * rng.standard_normal(5000), speech, 1e-4 * rng.standard_normal(7000)]
    )
    wav = wav.astype(np.float32)
    _, (start, end) = librosa.effects.trim(wav, top_db=40, frame_length=1024, hop_length=256)
    assert len(trim_silence(wav, sr, top_db=40, keep_ms=0)) == end - start
