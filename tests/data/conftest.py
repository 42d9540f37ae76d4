"""Tiny synthetic audio for the data tests, written with soundfile."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def tone(sample_rate: int, seconds: float, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    """A sine of ``round(sample_rate * seconds)`` samples."""
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def write_wav():
    """write_wav(path, seconds, sample_rate=16000, freq=440, data=None, subtype=None) -> Path."""

    def write(
        path: Path,
        seconds: float = 0.2,
        sample_rate: int = 16000,
        freq: float = 440.0,
        data: np.ndarray | None = None,
        subtype: str | None = None,
    ) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        wav = tone(sample_rate, seconds, freq) if data is None else data
        sf.write(str(path), wav, sample_rate, subtype=subtype)
        return path

    return write
