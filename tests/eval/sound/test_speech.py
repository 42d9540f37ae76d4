import numpy as np
import pytest

from flowvox.eval.sound.judges import judge_clip
from flowvox.eval.sound.speech import VoicingStats, looks_like_speech, sex_from_f0

from .make_audio import SENTENCES, SR, VOICES, beeps, flite, noise, speech, trim


def test_speech_rule_and_sex_threshold():
    moving = VoicingStats(voiced_fraction=0.7, changes_per_s=4.0, f0_std_semitones=2.0)
    assert looks_like_speech(25.0, moving)
    assert not looks_like_speech(10.0, moving)  # noise-like spectrum
    assert not looks_like_speech(60.0, moving)  # pure synthetic tone
    assert not looks_like_speech(25.0, VoicingStats(1.0, 0.0, 0.0))  # steady voicing
    assert not looks_like_speech(25.0, VoicingStats(0.1, 4.0, 2.0))  # barely voiced
    assert sex_from_f0(np.array([0, 100, 120, 0, 110.0])) == "male"
    assert sex_from_f0(np.array([0, 200, 180, 0, 220.0])) == "female"
    assert sex_from_f0(np.zeros(10)) is None


@pytest.mark.parametrize("voice", sorted(VOICES))
@pytest.mark.parametrize("text", SENTENCES)
def test_flite_sentences_are_one_speech_event_of_the_right_sex(voice, text):
    estimate = judge_clip(speech(voice, text).render(), SR)
    assert estimate.speech is True
    assert estimate.sex == VOICES[voice]
    assert estimate.order == ["speech"]


def test_tones_and_noise_are_not_speech():
    for clip in (beeps(3, 200), beeps(1, 150, on=2.0), noise("brown"), noise("pink")):
        estimate = judge_clip(clip.render(), SR)
        assert estimate.speech is False and estimate.sex is None


class _Silent:
    """A recogniser that hears no words."""

    def transcribe(self, wav, sample_rate):
        return ""

    def transcribe_files(self, paths):
        return ["" for _ in paths]


def test_a_recogniser_hearing_no_words_vetoes_speech():
    wav = speech("rms", SENTENCES[0]).render()
    vetoed = judge_clip(wav, SR, transcriber=_Silent())
    assert vetoed.speech is False and vetoed.sex is None


@pytest.mark.slow
def test_pocketsphinx_hears_words_in_flite_speech():
    pytest.importorskip("pocketsphinx")
    from flowvox.audio.asr import PocketsphinxASR

    wav = trim(flite("rms", SENTENCES[1]))
    assert judge_clip(wav, SR, transcriber=PocketsphinxASR()).speech is True
