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
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from flowvox.audio import load_audio, resample
from flowvox.audio.io import check_finite
from flowvox.errors import FlowvoxError

SPEAKER_SAMPLE_RATE = 16000
INSTALL_HINT = "pip install 'flowvox[eval]'"


class SpeakerEncoder:
    """resemblyzer VoiceEncoder on CPU, loaded once; embeds waveforms or files."""

    def __init__(self, device: str = "cpu") -> None:
        try:
            with warnings.catch_warnings():  # resemblyzer imports a deprecated scipy path
                warnings.simplefilter("ignore", DeprecationWarning)
                import resemblyzer
        except ImportError as err:
            raise FlowvoxError(
                f"resemblyzer is not installed ({err.name} missing); {INSTALL_HINT}, or "
                "pip install webrtcvad-wheels && pip install --no-deps resemblyzer"
            ) from err
        self._preprocess = resemblyzer.preprocess_wav
        self._encoder = resemblyzer.VoiceEncoder(device=device, verbose=False)
        self._encoder.eval()

    def embed(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Unit-norm speaker embedding (d,) of a mono waveform (n,) at ``sample_rate``.

        The waveform is resampled to 16 kHz, then resemblyzer's ``preprocess_wav`` raises
        quiet audio to -30 dBFS and shortens long pauses (WebRTC VAD). Raises
        ``FlowvoxError`` when the audio holds no speech.
        """
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise FlowvoxError(f"audio: expected a mono waveform of shape (n,), got {wav.shape}")
        check_finite(wav, "audio")
        wav16 = resample(wav, sample_rate, SPEAKER_SAMPLE_RATE)  # (m,)
        if not np.any(wav16):
            raise FlowvoxError("audio: the waveform is silent; a speaker embedding needs speech")
        trimmed = self._preprocess(wav16)
        if trimmed.size == 0:  # the VAD found no speech: embed the whole clip instead
            trimmed = wav16
        embedding = self._encoder.embed_utterance(trimmed.astype(np.float32))  # (d,)
        if not np.all(np.isfinite(embedding)):
            raise FlowvoxError("audio: no speaker embedding could be computed (no speech?)")
        return embedding.astype(np.float32)

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
