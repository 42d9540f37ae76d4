"""The Synthesizer: text + voice prompt -> speech, with any acoustic model family and a vocoder.

# b: batch (chunks), n: frames, f: mel bins, s: samples
Per text: normalise, cut into chunks (the backend's ``chunk_budget``: the reference's
speaking rate), give chunk j its frame count (the backend's ``estimate_frames``: F5's rule,
or a share of an explicit ``duration``) and the noise seed ``seed + j``; generate all chunks
(of all texts) as one padded batch (the backend's ``sample``), vocode them (batched,
``vocode_mels``), join with a cross-fade.
``stream`` does the same one chunk at a time and yields audio as soon as it is final.
The model's family is a ``Backend`` (``flowvox.infer.backends``: infilling, aligned,
FastPitch), picked by the model folder's "family" stamp; the Synthesizer itself knows no
family, only the backend's ``capabilities`` (voice prompt, explicit duration, pitch shift,
ODE, EPSS).

    tts = Synthesizer.from_pretrained("runs/f5/model")
    wav, sr = tts.speak("Hello there.", ref_audio="me.wav", ref_text="What I said.")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from flowvox.audio.mel import MelSpectrogram
from flowvox.errors import FlowvoxError
from flowvox.infer.backends import Backend, backend_for, load_backend
from flowvox.infer.duration import split_duration
from flowvox.infer.int8 import quantize_int8
from flowvox.infer.join import CrossFader, cross_fade_join
from flowvox.infer.model_dir import (
    MODEL_ENV,
    bundled_model_dir,
    default_reference,
    named_vocoder,
    named_voices,
    sampling_defaults,
)
from flowvox.infer.onnx.backend import OnnxAlignedBackend, load_onnx_vocoder
from flowvox.infer.options import Speech, SynthesisOptions, resolve_options
from flowvox.infer.reference import (
    RefAudio,
    Reference,
    Transcribe,
    build_reference,
    pocketsphinx_transcriber,
    reference_key,
    speaker_embedder,
)
from flowvox.infer.sampling import ChunkJob
from flowvox.infer.text import iter_text_chunks, text_language, token_ids
from flowvox.infer.vocode import vocode_mels
from flowvox.models.loading import PretrainedModel
from flowvox.text.tokenizers import Tokenizer
from flowvox.vocoders.io import resolve_vocoder
from flowvox.vocoders.pairing import check_vocoder_pairing

LOG = logging.getLogger("flowvox.infer")
MAX_CACHED_REFERENCES = 64
SEED_RANGE = 2**31 - 1
RUNTIMES = ("torch", "onnx")  # what from_pretrained's ``backend`` may name


class Synthesizer:
    """Speech from text with a voice prompt; see the module doc.

    model: an acoustic model of a family in ``flowvox.infer.backends.BACKENDS`` (``InfillTTS``,
    ``AlignedTTS``, ``FastPitch``), or a ``Backend`` wrapping one; tokenizer: its tokenizer;
    vocoder: log-mel (b, n, f) -> (b, s) for the model's mel (checked by ``from_pretrained``).
    transcriber: (wav, sample_rate) -> text for references without text (default: a
    pocketsphinx recogniser, built on first use). default_reference: (wav path, text or
    None) used when ``ref_audio`` is None. sampling: the model's own sampling defaults
    (``sampling.json`` of its directory, e.g. {"nfe": 8, "cfg": 0.7}); ``default_options``
    applies them.
    """

    def __init__(
        self,
        model: PretrainedModel | Backend,
        tokenizer: Tokenizer | None,
        vocoder: nn.Module,
        transcriber: Transcribe | None = None,
        default_reference: tuple[Path, str | None] | None = None,
        voices: dict[str, tuple[Path, str | None]] | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> None:
        self.backend = model if isinstance(model, Backend) else backend_for(model, tokenizer)
        self.model = self.backend.model
        self.tokenizer = self.backend.tokenizer
        self.vocoder = vocoder.eval()
        self.mel_config = self.model.config.mel
        vocoder_mel = getattr(getattr(vocoder, "config", None), "mel", None)
        if vocoder_mel is not None:  # a module without config.mel is taken on trust
            check_vocoder_pairing(self.mel_config, vocoder_mel, "the model", type(vocoder).__name__)
        self.default_reference = default_reference
        self.voices = dict(voices or {})  # name -> (prompt wav, its text or None)
        self.sampling = dict(sampling or {})  # option name -> the model's default
        self._transcriber = transcriber
        self._mel = MelSpectrogram(self.mel_config)  # CPU: references are conditioned there
        self._references: dict[tuple, Reference] = {}
        self._embed_speaker = speaker_embedder(self.model)  # d-vectors, cond_dim > 0 only
        self._int8: Backend | None = None  # the int8 copy, made the first time it is asked

    # --- construction -----------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike | None = None,
        vocoder: str | os.PathLike | nn.Module | None = None,
        device: str | torch.device = "cpu",
        transcriber: Transcribe | None = None,
        backend: str = "torch",
    ) -> Synthesizer:
        """Load a model directory (model.safetensors + config.json + vocab.txt) of any family
        in ``flowvox.infer.backends.BACKENDS``, picked by its config.json's "family".

        backend: "torch", or "onnx" for a folder written by ``flowvox export-onnx``: each ODE
        velocity evaluation and a neural vocoder with a graph run in onnxruntime on the CPU
        (``flowvox.infer.onnx.backend``); text encoding and durations stay in torch.

        vocoder: a vocoder directory, "griffin-lim", or a module; None takes the vocoder the
        model directory names (a ``vocoder/`` folder inside it, or config.json's "vocoder"
        path), else Griffin-Lim for the model's mel (with a warning). A vocoder made for
        another mel is refused with a ``FlowvoxError`` naming both.
        """
        if model is None:
            model = bundled_model_dir()
        if model is None:
            raise FlowvoxError(
                "this flowvox install has no bundled default voice; pass a model directory "
                f"(Synthesizer.from_pretrained('DIR'), flowvox speak --model DIR, or {MODEL_ENV})"
            )
        if backend not in RUNTIMES:
            raise FlowvoxError(f"backend {backend!r}: use one of {', '.join(RUNTIMES)}")
        onnx = backend == "onnx"
        folder = Path(model)
        speaker = OnnxAlignedBackend.load(folder, device) if onnx else load_backend(folder, device)
        mel = speaker.model.config.mel
        if vocoder is None:
            vocoder = named_vocoder(folder)
            if vocoder is None:
                LOG.warning(
                    "model %s names no vocoder: using Griffin-Lim for mel %r (low quality; "
                    "pass a vocoder directory with --vocoder DIR)",
                    folder,
                    mel.name,
                )
        voc = load_onnx_vocoder(vocoder, mel, acoustic_name=f"model {folder}") if onnx else None
        if voc is None:
            voc = resolve_vocoder(vocoder, mel, device, acoustic_name=f"model {folder}")
        default = default_reference(folder)
        voices, _ = named_voices(folder)
        sampling = sampling_defaults(folder)
        return cls(speaker, None, voc, transcriber, default, voices, sampling)

    def default_options(self, **overrides: Any) -> SynthesisOptions:
        """``SynthesisOptions`` with this model's sampling defaults, then ``overrides``."""
        return SynthesisOptions(**{**self.sampling, **overrides})

    def voice_prompt(self, name: str) -> tuple[Path, str | None]:
        """(prompt wav, its text or None) of a named voice of the model directory, for
        ``speak(text, *synth.voice_prompt("rms"))``."""
        if name not in self.voices:
            have = ", ".join(sorted(self.voices)) or "none"
            raise FlowvoxError(f"unknown voice {name!r}; this model's voices: {have}")
        return self.voices[name]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def sample_rate(self) -> int:
        """Sample rate of the audio made (the model's mel rate)."""
        return self.mel_config.sample_rate

    @property
    def frame_rate(self) -> float:
        """Mel frames per second."""
        return self.mel_config.sample_rate / self.mel_config.hop_length

    # --- reference ----------------------------------------------------------------------

    def reference(
        self,
        ref_audio: RefAudio | None = None,
        ref_text: str | None = None,
        max_seconds: float = 12.0,
    ) -> Reference:
        """The conditioned voice prompt (cached per file, text and limit).

        ref_audio None -> the model directory's default reference, if it has one.
        ref_text None -> transcribed (one warning line shows the transcript).
        A family without a voice prompt (FastPitch): an empty reference; a ref_audio or
        ref_text is refused.
        """
        if not self.backend.capabilities.voice_prompt:
            return self.backend.no_prompt_reference(self.mel_config, ref_audio, ref_text)
        if ref_audio is None:
            if self.default_reference is None:
                raise FlowvoxError(
                    "no ref_audio given and the model has no default reference.wav; pass a "
                    "voice prompt (ref_audio='clip.wav', or --ref-audio WAV)"
                )
            ref_audio, default_text = self.default_reference
            ref_text = default_text if ref_text is None else ref_text
        key = reference_key(ref_audio, ref_text, max_seconds)
        if key is not None and key in self._references:
            return self._references[key]
        ref = build_reference(
            ref_audio, ref_text, self._mel, self.sample_rate, self._transcribe, max_seconds,
            self._embed_speaker,
        )  # fmt: skip
        if key is not None:
            if len(self._references) >= MAX_CACHED_REFERENCES:
                self._references.pop(next(iter(self._references)))
            self._references[key] = ref
        return ref

    def _transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        if self._transcriber is None:
            self._transcriber = pocketsphinx_transcriber()
        return self._transcriber(wav, sample_rate)

    # --- planning -----------------------------------------------------------------------

    def _chunks(self, text: str | Iterable[str], ref: Reference, opts: SynthesisOptions):
        """Lazy chunk strings of ``text`` for the backend's budget (the reference's pace)."""
        budget = self.backend.chunk_budget(ref, opts)
        language = text_language(self.tokenizer, opts.language)
        return iter_text_chunks(text, budget, self.tokenizer, language, opts.normalize)

    def _job(self, ref: Reference, chunk: str, gen_frames: int | None, opts, seed) -> ChunkJob:
        total = self.backend.estimate_frames(ref, chunk, gen_frames, opts, self.frame_rate)
        ids = token_ids(ref.text, chunk, self.tokenizer)
        total = self.backend.plan_frames(ref, chunk, ids, total)
        return ChunkJob(ref.mel, ids, total, seed)

    def _jobs(self, text: str, ref: Reference, opts: SynthesisOptions, seed: int):
        chunks = list(self._chunks(text, ref, opts))
        frames: list[int | None] = [None] * len(chunks)
        if opts.duration is not None:
            frames = split_duration(opts.duration, chunks, self.frame_rate, opts.cross_fade)
        return [
            self._job(ref, chunk, g, opts, seed + j)
            for j, (chunk, g) in enumerate(zip(chunks, frames, strict=True))
        ]

    def estimate_frames(
        self,
        text: str,
        ref_audio: RefAudio | None = None,
        ref_text: str | None = None,
        options: SynthesisOptions | None = None,
    ) -> int:
        """Frames (reference + generated, all chunks) that ``speak`` would generate (for a
        family that predicts its durations, the backend's estimate of them)."""
        opts = resolve_options(options, {}, self.sampling)
        ref = self.reference(ref_audio, ref_text, opts.max_ref_seconds)
        return sum(job.total_frames for job in self._jobs(text, ref, opts, 0))

    # --- generation ---------------------------------------------------------------------

    def speak(
        self,
        text: str,
        ref_audio: RefAudio | None = None,
        ref_text: str | None = None,
        options: SynthesisOptions | None = None,
        **option_overrides,
    ) -> Speech:
        """Speech for ``text`` in the reference's voice: ``wav, sr = tts.speak(...)``.

        All chunks of a long text are generated as one batch. ``option_overrides`` are
        ``SynthesisOptions`` fields (nfe=16, cfg=2.0, seed=0, duration=3.5, ...).
        """
        opts = resolve_options(options, option_overrides, self.sampling)
        return self.speak_batch([text], ref_audio, ref_text, opts)[0]

    def speak_batch(
        self,
        texts: list[str],
        ref_audio: RefAudio | None = None,
        ref_text: str | None = None,
        options: SynthesisOptions | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[Speech]:
        """Speech for each of ``texts`` (same reference and options): every chunk of every
        text in ONE padded batch. With a seed, each text gets the result it gets alone.

        ``seeds``: one noise seed per text (overrides ``options.seed``), so that a bulk run
        gives every line its own noise yet repeats it exactly."""
        opts = resolve_options(options, {}, self.sampling)
        if isinstance(texts, str) or not texts:
            raise FlowvoxError("speak_batch takes a non-empty list of texts (use speak for one)")
        if seeds is not None and len(seeds) != len(texts):
            raise FlowvoxError(f"speak_batch: {len(seeds)} seeds for {len(texts)} texts")
        self._check(opts)
        ref = self.reference(ref_audio, ref_text, opts.max_ref_seconds)
        text_seeds = list(seeds) if seeds is not None else [self._seed(opts) for _ in texts]
        plans = [self._jobs(t, ref, opts, s) for t, s in zip(texts, text_seeds, strict=True)]
        jobs = [job for plan in plans for job in plan]
        mels = self._sample(jobs, ref, opts)
        waves = vocode_mels(self.vocoder, mels)  # all chunks of all texts, batched
        fade = round(opts.cross_fade * self.sample_rate)
        out, k = [], 0
        for plan in plans:
            wavs = waves[k : k + len(plan)]
            k += len(plan)
            out.append(Speech(np.clip(cross_fade_join(wavs, fade), -1.0, 1.0), self.sample_rate))
        return out

    def stream(
        self,
        text: str | Iterable[str],
        ref_audio: RefAudio | None = None,
        ref_text: str | None = None,
        options: SynthesisOptions | None = None,
        **option_overrides,
    ) -> Iterator[np.ndarray]:
        """Yield audio (s,) float32 piece by piece at ``sample_rate``: chunk j is generated,
        vocoded and yielded (less the cross-fade it still shares with chunk j + 1) before
        chunk j + 1 starts. ``text`` may be an iterable of pieces (an open file); chunks are
        cut lazily, so memory stays bounded on any length. The pieces concatenate to what
        ``speak`` returns for the same seed (to float tolerance). With ``duration`` the
        chunk texts (not audio) are listed first to share the time out.
        """
        opts = resolve_options(options, option_overrides, self.sampling)
        self._check(opts)
        ref = self.reference(ref_audio, ref_text, opts.max_ref_seconds)
        chunks: Iterable[str] = self._chunks(text, ref, opts)  # a string is checked here
        frames: list[int] | None = None
        if opts.duration is not None:
            chunks = list(chunks)
            frames = split_duration(opts.duration, chunks, self.frame_rate, opts.cross_fade)
        return self._stream(ref, chunks, frames, opts, self._seed(opts))

    def _stream(
        self,
        ref: Reference,
        chunks: Iterable[str],
        frames: list[int] | None,
        opts: SynthesisOptions,
        seed: int,
    ) -> Iterator[np.ndarray]:
        fader = CrossFader(round(opts.cross_fade * self.sample_rate))
        for j, chunk in enumerate(chunks):
            g = frames[j] if frames is not None else None
            job = self._job(ref, chunk, g, opts, seed + j)
            mel = self._sample([job], ref, opts)[0]
            piece = fader.push(self._vocode(mel))
            if len(piece):
                yield np.clip(piece, -1.0, 1.0)
        rest = fader.finish()
        if len(rest):
            yield np.clip(rest, -1.0, 1.0)

    def _check(self, opts: SynthesisOptions) -> None:
        """Refuse (one line) the options this model's family cannot honour."""
        self.backend.check_options(opts)

    def _sample(self, jobs: list[ChunkJob], ref: Reference, opts) -> list[torch.Tensor]:
        """Generated log-mels (g_i, f) float32, one per job, by the model's family; with
        ``opts.precision`` "bf16" the model's matrix products run in bfloat16 (autocast),
        with "int8" its linear layers in int8 (``int8_backend``)."""
        bf16 = opts.precision == "bf16"
        backend = self.int8_backend() if opts.precision == "int8" else self.backend
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            mels = backend.sample(jobs, ref, opts).mels
        return [mel.float() for mel in mels] if bf16 else mels

    def int8_backend(self) -> Backend:
        """The family's PyTorch backend over an int8 copy of the model (``flowvox.infer.
        int8``), made on first use and kept; the float32 model stays as it is. CPU only."""
        if self._int8 is None:
            keep = self.backend.int8_keep_fp32  # what decides durations stays float32
            self._int8 = backend_for(quantize_int8(self.model, keep), self.tokenizer)
        return self._int8

    def _vocode(self, mel: torch.Tensor) -> np.ndarray:
        """Generated log-mel (g, f) -> waveform (s,) float32 on the CPU."""
        return vocode_mels(self.vocoder, [mel])[0]

    @staticmethod
    def _seed(opts: SynthesisOptions) -> int:
        """``opts.seed``, or a fresh one from torch's default generator (so that
        ``torch.manual_seed`` makes unseeded calls repeatable)."""
        if opts.seed is not None:
            return int(opts.seed)
        return int(torch.randint(0, SEED_RANGE, ()).item())
