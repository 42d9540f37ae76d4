"""Speaker similarity judge: cosine of resemblyzer speaker embeddings.

resemblyzer's VoiceEncoder (3-layer LSTM over 40-band mels of 1.6 s windows, weights shipped
in its wheel) maps an utterance to a unit vector e with non-negative entries, so
similarity(a, b) = e_a · e_b lies in [0, 1]. On engine voices two utterances of one voice
score about 0.9, two different voices about 0.6: 0.90 within flite rms and 0.58 from rms to
slt, measured by tests/eval/test_judges_on_engine_audio.py.
"""
# m: utterances, d: embedding width (256)

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from flowvox.audio import load_audio
from flowvox.audio.dvector import DVECTOR_SAMPLE_RATE, DVectorEncoder
from flowvox.errors import FlowvoxError

SPEAKER_SAMPLE_RATE = DVECTOR_SAMPLE_RATE


class SpeakerEncoder:
    """resemblyzer VoiceEncoder on CPU, loaded once; embeds waveforms or files. The
    computation is ``flowvox.audio.dvector.DVectorEncoder``'s, the TTS models' speaker
    condition, so the judge and the condition agree."""

    def __init__(self, device: str = "cpu") -> None:
        self._dvector = DVectorEncoder(device, purpose="the speaker judge needs it")
        self._dvector.load()  # a missing resemblyzer fails here, before any audio

    def embed(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Unit-norm speaker embedding (d,) of a mono waveform (n,) at ``sample_rate``.

        The waveform is resampled to 16 kHz, then resemblyzer's ``preprocess_wav`` raises
        quiet audio to -30 dBFS and shortens long pauses (WebRTC VAD). Raises
        ``FlowvoxError`` when the audio holds no speech.
        """
        return self._dvector(wav, sample_rate)

    def embed_many(self, wavs: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Embeddings (m, d) of m waveforms that share one sample rate."""
        return np.stack([self.embed(w, sample_rate) for w in wavs])

    def embed_files(self, paths: Iterable[str | os.PathLike]) -> np.ndarray:
        """Embeddings (m, d) of m audio files, in order."""
        rows = []
        for path in paths:
            clip = load_audio(path, SPEAKER_SAMPLE_RATE)
            rows.append(self.embed(clip.wav, clip.sample_rate))
        return np.stack(rows)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        """Cosine similarity of two embeddings (d,): a·b / (|a| |b|)."""
        return float(cosine_similarity(a[None], b[None])[0])


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine (m,) of two embedding matrices (m, d): a_i·b_i / (|a_i| |b_i|)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise FlowvoxError(
            f"similarity: need two (m, d) arrays of one shape, got {a.shape}, {b.shape}"
        )
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)  # (m,)
    if np.any(norms == 0):
        raise FlowvoxError("similarity: an embedding is all zeros; embed audio that holds speech")
    return np.einsum("md,md->m", a, b) / norms


def similarity_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All-pairs cosine (m, k) between embeddings a (m, d) and b (k, d)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T  # (m, k)
