"""Fixtures: a tiny random model directory, a short reference clip, a Synthesizer."""

from pathlib import Path

import pytest
import soundfile as sf

from flowvox.infer import Synthesizer

from .helpers import CountingTranscriber, cheap_vocoder, speech_like, tiny_model_dir


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("infer") / "model")


@pytest.fixture(scope="session")
def ref_wav(tmp_path_factory) -> Path:
    """1.2 s of speech-like sound at 16 kHz (resampled to 24 kHz on load)."""
    path = tmp_path_factory.mktemp("refs") / "ref.wav"
    sf.write(path, speech_like(1.2, 16000), 16000)
    return path


@pytest.fixture
def transcriber() -> CountingTranscriber:
    return CountingTranscriber()


@pytest.fixture
def synth(model_dir, transcriber) -> Synthesizer:
    return Synthesizer.from_pretrained(model_dir, vocoder=cheap_vocoder(), transcriber=transcriber)
