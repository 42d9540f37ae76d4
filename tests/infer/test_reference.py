"""Reference clips: conditioning, transcription without text, and every bad-input error."""

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer

from .helpers import REF_TEXT, CountingTranscriber, cheap_vocoder, speech_like

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def test_reference_is_mono_resampled_normalised_and_cached(synth, ref_wav, tmp_path):
    stereo = tmp_path / "stereo.wav"
    mono = speech_like(2.0, 16000)
    sf.write(stereo, np.stack([mono, mono], axis=1), 16000)
    ref = synth.reference(stereo, REF_TEXT)
    assert ref.sample_rate == 24000 and ref.wav.ndim == 1
    assert 1.5 < ref.seconds <= 2.0  # trimmed edges, resampled to the mel rate
    assert ref.mel.shape == (ref.frames, 100)
    assert ref.frames == len(ref.wav) // 256 + 1
    assert ref.text == REF_TEXT + " "
    rms_db = 20 * np.log10(np.sqrt(np.mean(ref.wav.astype(np.float64) ** 2)))
    assert -30 < rms_db < -15  # loudness-normalised towards -23 LUFS (quiet input was -24 dB peak)
    assert synth.reference(stereo, REF_TEXT) is ref  # cached per file and text


def test_missing_text_calls_the_transcriber_once_and_says_so(synth, ref_wav, caplog):
    with caplog.at_level(logging.WARNING, logger="flowvox.infer"):
        ref = synth.reference(ref_wav)
        synth.reference(ref_wav)
    assert synth._transcriber.calls == 1
    assert ref.transcribed and ref.text == "hello from the transcriber. "
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "'hello from the transcriber'" in lines[0]
    assert "\n" not in lines[0]


def test_long_clip_is_cut_at_a_quiet_frame_and_retranscribed(synth, tmp_path, caplog):
    path = tmp_path / "long.wav"
    sf.write(path, speech_like(14.0, 24000), 24000)  # bursts every 0.25 s, quiet between
    with caplog.at_level(logging.WARNING, logger="flowvox.infer"):
        ref = synth.reference(path, "words that no longer match")
    assert ref.clipped and 8.0 <= ref.seconds <= 12.0
    assert ref.transcribed and synth._transcriber.calls == 1
    assert "was cut to" in caplog.text


def test_recogniser_hearing_nothing_asks_for_ref_text(model_dir, ref_wav):
    synth = Synthesizer.from_pretrained(
        model_dir, vocoder=cheap_vocoder(), transcriber=CountingTranscriber("")
    )
    with pytest.raises(FlowvoxError, match="heard no words; pass ref_text"):
        synth.reference(ref_wav)


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(24000, np.float32), 24000)
    short = tmp_path / "short.wav"
    sf.write(short, speech_like(0.3, 24000), 24000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio at all")
    text_file = tmp_path / "notes.mp4"
    text_file.write_text("this is not audio")
    return {
        "missing": (tmp_path / "nope.wav", "no such audio file"),
        "silent": (silent, "is silent"),
        "short": (short, "at least 0.5 s"),
        "corrupt": (corrupt, "cannot read audio"),
        "unsupported": (text_file, "cannot read audio"),
    }


@pytest.mark.parametrize("case", ["missing", "silent", "short", "corrupt", "unsupported"])
def test_bad_reference_raises_one_line_error_naming_the_file(synth, tmp_path, case):
    path, message = bad_inputs(tmp_path)[case]
    with pytest.raises(FlowvoxError, match=message) as err:
        synth.speak("hello", path, REF_TEXT, nfe=1)
    assert "\n" not in str(err.value)
    assert path.name in str(err.value)


def test_empty_ref_text_and_no_reference_are_refused(synth, ref_wav):
    with pytest.raises(FlowvoxError, match="ref_text is empty"):
        synth.reference(ref_wav, "  ")
    with pytest.raises(FlowvoxError, match="no ref_audio given"):
        synth.speak("hello", nfe=1)


def test_model_dir_reference_is_the_default_voice(model_dir, ref_wav, tmp_path):
    import shutil

    voice = tmp_path / "voice"
    shutil.copytree(model_dir, voice)
    shutil.copy(ref_wav, voice / "reference.wav")
    (voice / "reference.txt").write_text(REF_TEXT + "\n")
    synth = Synthesizer.from_pretrained(voice, vocoder=cheap_vocoder())
    assert synth.reference().text == REF_TEXT + " "


@pytest.mark.slow
@pytest.mark.skipif(not LIBRIVOX.is_dir(), reason="Debian package pocketsphinx-testdata")
def test_pocketsphinx_transcribes_a_real_reference(model_dir, caplog):
    synth = Synthesizer.from_pretrained(model_dir, vocoder=cheap_vocoder())  # real recogniser
    clip = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0930.wav"  # 'he might even ...'
    with caplog.at_level(logging.WARNING, logger="flowvox.infer"):
        ref = synth.reference(clip)
    words = set(ref.text.lower().replace(".", "").split())
    assert len(words & {"he", "might", "even", "have", "been", "made", "amiable", "himself"}) >= 4
    assert "transcribed it as" in caplog.text
