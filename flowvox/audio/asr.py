"""Offline speech recognisers, pocketsphinx and local Whisper: they transcribe voice prompts
given without text (``flowvox.infer.reference``) and are the intelligibility judge's ear.

Both take a mono waveform (n,) at any sample rate, resample it to the 16 kHz the models
expect, and return the recognised text (not normalised; score it with
:func:`flowvox.eval.text_norm.wer`). Neither downloads anything: pocketsphinx uses the en-us
model shipped inside its wheel, Whisper a model the user already has on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from flowvox.audio import load_audio, resample
from flowvox.audio.io import check_finite
from flowvox.errors import FlowvoxError

ASR_SAMPLE_RATE = 16000
INSTALL_HINT = "pip install 'flowvox[eval]'"


class Transcriber(Protocol):
    """What the eval command needs from a recogniser."""

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str: ...

    def transcribe_files(self, paths: Iterable[str | os.PathLike]) -> list[str]: ...


def to_asr_input(wav: np.ndarray, sample_rate: int, name: str = "audio") -> np.ndarray:
    """Check a mono waveform (n,) and resample it to 16 kHz float32 (m,)."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise FlowvoxError(f"{name}: expected a mono waveform of shape (n,), got {wav.shape}")
    if sample_rate <= 0:
        raise FlowvoxError(f"{name}: sample rate must be positive, got {sample_rate}")
    check_finite(wav, name)
    return resample(wav, sample_rate, ASR_SAMPLE_RATE)


@dataclass(frozen=True)
class PocketsphinxConfig:
    """Decoder settings. ``None`` paths mean the en-us model inside the pocketsphinx wheel.

    The defaults suit synthetic corpus audio (experiments/griffin_lim_wer.py measures them):
    ``cmn="batch"`` normalises the cepstral mean over the whole utterance, which suits
    offline decoding and makes the result independent of the input gain.
    """

    hmm: str | None = None  # acoustic model folder
    lm: str | None = None  # n-gram language model (.lm.bin / .arpa)
    dict: str | None = None  # pronunciation dictionary
    cmn: Literal["batch", "live", "none"] = "batch"
    bestpath: bool = True  # third pass: best path through the word lattice
    lw: float = 6.5  # language model weight
    beam: float = 1e-48
    wbeam: float = 7e-29
    pbeam: float = 1e-48
    maxhmmpf: int = 30000  # active HMMs per frame (-1: no limit)


class PocketsphinxASR:
    """CMU pocketsphinx with the wheel's en-us model; the decoder is loaded once and reused.

    About 0.3-0.4 CPU seconds per second of audio on one core. Not thread-safe: use one
    instance per thread or process.
    """

    def __init__(self, config: PocketsphinxConfig | None = None) -> None:
        try:
            import pocketsphinx
        except ImportError as err:
            raise FlowvoxError(
                f"pocketsphinx is not installed; {INSTALL_HINT} or pip install pocketsphinx"
            ) from err
        self.config = config or PocketsphinxConfig()
        settings = {k: v for k, v in asdict(self.config).items() if v is not None}
        for key in ("hmm", "lm", "dict"):
            if key in settings and not Path(settings[key]).exists():
                raise FlowvoxError(
                    f"pocketsphinx {key}: {settings[key]} does not exist; give an existing "
                    "path or leave it unset for the en-us model in the pocketsphinx wheel"
                )
        self._decoder = pocketsphinx.Decoder(loglevel="FATAL", **settings)

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        """Recognise a mono waveform (n,) at ``sample_rate``; "" when nothing is heard."""
        wav16 = to_asr_input(wav, sample_rate)  # (m,) at 16 kHz
        if wav16.size == 0:
            return ""
        pcm = np.round(np.clip(wav16, -1.0, 1.0) * 32767).astype(np.int16)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def transcribe_files(self, paths: Iterable[str | os.PathLike]) -> list[str]:
        """Recognise each audio file (any format libsndfile reads), in order."""
        return transcribe_files(self, paths)


def transcribe_files(asr: Transcriber, paths: Iterable[str | os.PathLike]) -> list[str]:
    """Load each file at 16 kHz mono and run ``asr.transcribe`` on it."""
    out = []
    for path in paths:
        clip = load_audio(path, ASR_SAMPLE_RATE)
        out.append(asr.transcribe(clip.wav, clip.sample_rate))
    return out


WhisperBackend = Literal["auto", "faster-whisper", "openai-whisper"]


class WhisperASR:
    """Whisper from a local model: a faster-whisper (CTranslate2) folder holding ``model.bin``,
    or an openai-whisper ``.pt`` checkpoint file. Nothing is downloaded.

    ``backend="auto"`` picks faster-whisper for a folder and openai-whisper for a file.
    Neither package is a flowvox dependency: install the one your model is for.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        backend: WhisperBackend = "auto",
        language: str = "en",
        device: str = "cpu",
        beam_size: int = 5,
    ) -> None:
        path = Path(model_path)
        if not path.exists():
            raise FlowvoxError(
                f"Whisper model {path}: no such file or folder; give a local faster-whisper "
                "model folder (with model.bin) or an openai-whisper .pt file "
                "(flowvox never downloads models)"
            )
        if backend == "auto":
            backend = "faster-whisper" if path.is_dir() else "openai-whisper"
        if backend == "faster-whisper" and not (path / "model.bin").is_file():
            raise FlowvoxError(
                f"Whisper model {path}: a faster-whisper model is a folder holding model.bin; "
                "convert one with ct2-transformers-converter or give an openai-whisper .pt file"
            )
        self.backend, self.language, self.beam_size = backend, language, beam_size
        if backend == "faster-whisper":
            module = _import_whisper("faster_whisper", "faster-whisper", path)
            self._model = module.WhisperModel(
                str(path), device=device, compute_type="int8" if device == "cpu" else "float16"
            )
        elif backend == "openai-whisper":
            module = _import_whisper("whisper", "openai-whisper", path)
            self._model = module.load_model(str(path), device=device)
        else:
            raise FlowvoxError(
                f"Whisper backend {backend!r}: use 'auto', 'faster-whisper' or 'openai-whisper'"
            )

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        """Recognise a mono waveform (n,) at ``sample_rate``."""
        wav16 = to_asr_input(wav, sample_rate)  # (m,) at 16 kHz
        if wav16.size == 0:
            return ""
        if self.backend == "faster-whisper":
            segments, _ = self._model.transcribe(
                wav16, language=self.language, beam_size=self.beam_size
            )
            return " ".join(s.text.strip() for s in segments).strip()
        result = self._model.transcribe(
            wav16, language=self.language, beam_size=self.beam_size, fp16=False
        )
        return str(result["text"]).strip()

    def transcribe_files(self, paths: Iterable[str | os.PathLike]) -> list[str]:
        """Recognise each audio file, in order."""
        return transcribe_files(self, paths)


def _import_whisper(module: str, package: str, path: Path):
    """Import ``module`` or raise a ``FlowvoxError`` that names the package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise FlowvoxError(
            f"Whisper model {path} needs the {package} package, which is not installed; "
            f"pip install {package}"
        ) from err


ASR_SPECS = "pocketsphinx, whisper:PATH, faster-whisper:PATH or openai-whisper:PATH"


def make_transcriber(spec: str = "pocketsphinx", device: str = "cpu") -> Transcriber:
    """The recogniser a ``--asr`` value names: ``pocketsphinx`` (default, offline, the
    wheel's en-us model) or ``whisper:PATH`` (a local model: a faster-whisper folder or an
    openai-whisper ``.pt`` file; ``faster-whisper:PATH`` / ``openai-whisper:PATH`` force
    the package). Raises ``FlowvoxError`` for another value, a missing model or package."""
    name, sep, path = spec.partition(":")
    if spec == "pocketsphinx":
        return PocketsphinxASR()
    backends = {"whisper": "auto", "faster-whisper": "faster-whisper"}
    backends["openai-whisper"] = "openai-whisper"
    if name in backends and sep and path:
        return WhisperASR(path, backend=backends[name], device=device)  # type: ignore[arg-type]
    raise FlowvoxError(f"--asr {spec!r}: use {ASR_SPECS} (a local model; nothing is downloaded)")
