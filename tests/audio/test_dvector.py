"""Speaker d-vectors for the TTS condition: the speaker-similarity judge's embedding."""
# s: samples, k: d-vector channels

import numpy as np
import pytest

from flowvox.audio.dvector import DVECTOR_DIM, DVectorEncoder
from flowvox.errors import FlowvoxError
from flowvox.eval.speaker import SpeakerEncoder
from tests.infer.helpers import speech_like


def test_the_dvector_is_the_judges_embedding_at_any_sample_rate():
    encoder, judge = DVectorEncoder(), SpeakerEncoder()
    for rate in (24000, 16000):
        wav = speech_like(1.5, rate, seed=2)  # (s,)
        vector = encoder(wav, rate)  # (k,)
        assert vector.shape == (DVECTOR_DIM,) and vector.dtype == np.float32
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
        np.testing.assert_allclose(vector, judge.embed(wav, rate), atol=1e-6)


def test_silent_or_multichannel_audio_is_refused_in_one_line():
    encoder = DVectorEncoder()
    with pytest.raises(FlowvoxError, match="silent"):
        encoder(np.zeros(8000, np.float32), 16000)
    with pytest.raises(FlowvoxError, match="mono"):
        encoder(np.zeros((2, 8000), np.float32), 16000)
