"""Speaker d-vectors: resemblyzer's embedding of an utterance, the global speaker condition
of the TTS models with ``cond_dim`` > 0 (aligned and infilling families).

The computation is the speaker-similarity judge's (``flowvox.eval.speaker.SpeakerEncoder``):
resample to 16 kHz; resemblyzer's ``preprocess_wav`` (volume to -30 dBFS, long pauses cut by
WebRTC VAD; the whole clip when the VAD finds no speech); ``VoiceEncoder.embed_utterance``
(3-layer LSTM over 40-band mels of 1.6 s windows, averaged): a unit vector of 256
non-negative entries. It sits here, below ``data/``, ``models/`` and ``infer/``, so that the
d-vector cache and the Synthesizer reach it; resemblyzer is imported at the first embedding,
so a model without the condition never imports it.
"""
# s: samples, c: d-vector channels (256)

from __future__ import annotations

import importlib.metadata
import warnings

import numpy as np

from flowvox.audio.io import check_finite, resample
from flowvox.errors import FlowvoxError

DVECTOR_DIM = 256
DVECTOR_SAMPLE_RATE = 16000
INSTALL_HINT = (
    "pip install 'flowvox[eval]' (or pip install webrtcvad-wheels && pip install --no-deps "
    "resemblyzer)"
)


def dvector_encoder_name() -> str:
    """The encoder and its version, as d-vector caches record it ("resemblyzer 0.1.4")."""
    try:
        return f"resemblyzer {importlib.metadata.version('resemblyzer')}"
    except importlib.metadata.PackageNotFoundError:
        return "resemblyzer (not installed)"


class DVectorEncoder:
    """(wav (s,), sample_rate) -> d-vector (c,) float32; resemblyzer's VoiceEncoder on
    ``device``, loaded at the first call (or by ``load``) and kept. ``purpose`` ends the
    message when resemblyzer is missing."""

    def __init__(
        self, device: str = "cpu", purpose: str = "this model takes a speaker d-vector"
    ) -> None:
        self.device = device
        self.purpose = purpose
        self._preprocess = None
        self._encoder = None

    def load(self) -> None:
        """Import resemblyzer and load its encoder now; ``FlowvoxError`` naming the install."""
        try:
            with warnings.catch_warnings():  # resemblyzer imports a deprecated scipy path
                warnings.simplefilter("ignore", DeprecationWarning)
                import resemblyzer
        except ImportError as err:
            raise FlowvoxError(
                f"resemblyzer is not installed ({err.name} missing), and {self.purpose}; "
                f"{INSTALL_HINT}"
            ) from err
        self._preprocess = resemblyzer.preprocess_wav
        self._encoder = resemblyzer.VoiceEncoder(device=self.device, verbose=False)
        self._encoder.eval()

    def __call__(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Unit-norm d-vector (c,) of a mono waveform (s,); ``FlowvoxError`` when it is
        silent or no embedding comes out."""
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise FlowvoxError(f"audio: expected a mono waveform of shape (s,), got {wav.shape}")
        check_finite(wav, "audio")
        wav16 = resample(wav, sample_rate, DVECTOR_SAMPLE_RATE)  # (s',)
        if not np.any(wav16):
            raise FlowvoxError("audio: the waveform is silent; a speaker d-vector needs speech")
        if self._encoder is None:
            self.load()
        trimmed = self._preprocess(wav16)
        if trimmed.size == 0:  # the VAD found no speech: embed the whole clip instead
            trimmed = wav16
        embedding = self._encoder.embed_utterance(trimmed.astype(np.float32))  # (c,)
        if embedding.shape != (DVECTOR_DIM,) or not np.all(np.isfinite(embedding)):
            raise FlowvoxError("audio: no speaker d-vector could be computed (no speech?)")
        return embedding.astype(np.float32)
