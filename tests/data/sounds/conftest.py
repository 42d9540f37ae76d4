"""Shared fixture of the sound corpus tests: the speech sentences, loaded once."""

import pytest

from flowvox.data.sounds.plan import speech_sentences


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    return speech_sentences()
