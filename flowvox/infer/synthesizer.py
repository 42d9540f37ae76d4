"""The Synthesizer: text + voice prompt -> speech, with an infilling TTS model and a vocoder.

# b: batch (chunks), n: frames, f: mel bins, s: samples
Per text: normalise, cut into chunks sized to the reference's speaking rate
(``chunk_budget``), give chunk j the F5 frame count (``rule_frames``, or a share of an
explicit ``duration``) and the noise seed ``seed + j``; generate all chunks (of all texts)
as one padded batch (``sample_chunks``), vocode them (batched, ``vocode_mels``), join
with a cross-fade.
``stream`` does the same one chunk at a time and yields audio as soon as it is final.
An aligned TTS model directory (task ``aligned_tts``) plugs in the same way: its chunks
are sampled by ``aligned_backend.sample_aligned`` (durations predicted, no ``duration``).
A FastPitch directory (task ``fastpitch``) too, by ``fastpitch_backend``: no voice prompt
(``ref_audio`` refused), no ODE (nfe, cfg, solver ignored), ``pitch_shift`` in semitones.

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
from flowvox.infer import fastpitch_backend as fastpitch
from flowvox.infer.aligned_backend import check_aligned_options, is_aligned_dir, sample_aligned
from flowvox.infer.duration import chunk_budget, rule_frames, split_duration
from flowvox.infer.join import CrossFader, cross_fade_join
from flowvox.infer.model_dir import (
    MODEL_ENV,
    bundled_model_dir,
    default_reference,
    named_vocoder,
    named_voices,
    sampling_defaults,
)
from flowvox.infer.options import Speech, SynthesisOptions, resolve_options
from flowvox.infer.reference import (
    RefAudio,
    Reference,
    Transcribe,
    build_reference,
    pocketsphinx_transcriber,
    reference_key,
)
from flowvox.infer.sampling import ChunkJob, sample_chunks
from flowvox.infer.text import iter_text_chunks, text_language, token_ids
from flowvox.infer.vocode import vocode_mels
from flowvox.models.aligned_tts import AlignedTTS
from flowvox.models.fastpitch import FastPitch
from flowvox.models.infill_tts import InfillTTS
from flowvox.text.tokenizers import Tokenizer

LOG = logging.getLogger("flowvox.infer")
MAX_CACHED_REFERENCES = 64
SEED_RANGE = 2**31 - 1


class Synthesizer:
    """Speech from text with a voice prompt; see the module doc.

    model: an ``InfillTTS``, an ``AlignedTTS`` or a ``FastPitch`` (eval mode; see
    ``aligned_backend`` and ``fastpitch_backend``: their durations are predicted, the
    ``duration`` option is refused); tokenizer: its tokenizer;
    vocoder: log-mel (b, n, f) -> (b, s) for the model's mel (checked by ``from_pretrained``).
    transcriber: (wav, sample_rate) -> text for references without text (default: a
    pocketsphinx recogniser, built on first use). default_reference: (wav path, text or
    None) used when ``ref_audio`` is None. sampling: the model's own sampling defaults
    (``sampling.json`` of its directory, e.g. {"nfe": 8, "cfg": 0.7}); ``default_options``
    applies them.
    """

    def __init__(
        self,
        model: InfillTTS | AlignedTTS | FastPitch,
        tokenizer: Tokenizer,
        vocoder: nn.Module,
        transcriber: Transcribe | None = None,
        default_reference: tuple[Path, str | None] | None = None,
        voices: dict[str, tuple[Path, str | None]] | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> None:
        from flowvox.vocoders.contract import check_vocoder_pairing

        self.model = model.eval()
        self._aligned = isinstance(model, AlignedTTS)
        self._fastpitch = isinstance(model, FastPitch)
        self.tokenizer = tokenizer
        self.vocoder = vocoder.eval()
        self.mel_config = model.config.mel
        vocoder_mel = getattr(getattr(vocoder, "config", None), "mel", None)
        if vocoder_mel is not None:  # a module without config.mel is taken on trust
            check_vocoder_pairing(self.mel_config, vocoder_mel, "the model", type(vocoder).__name__)
        self.default_reference = default_reference
        self.voices = dict(voices or {})  # name -> (prompt wav, its text or None)
        self.sampling = dict(sampling or {})  # option name -> the model's default
        self._transcriber = transcriber
        self._mel = MelSpectrogram(self.mel_config)  # CPU: references are conditioned there
        self._references: dict[tuple, Reference] = {}

    # --- construction -----------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike | None = None,
        vocoder: str | os.PathLike | nn.Module | None = None,
        device: str | torch.device = "cpu",
        transcriber: Transcribe | None = None,
    ) -> Synthesizer:
        """Load a model directory (model.safetensors + config.json + vocab.txt): an
        infilling model, an aligned one (config.json task ``aligned_tts``) or a FastPitch
        one (task ``fastpitch``).

        vocoder: a vocoder directory, "griffin-lim", or a module; None takes the vocoder the
        model directory names (a ``vocoder/`` folder inside it, or config.json's "vocoder"
        path), else Griffin-Lim for the model's mel (with a warning). A vocoder made for
        another mel is refused with a ``FlowvoxError`` naming both.
        """
        from flowvox.models.infill_load import load_infill_model
        from flowvox.vocoders.contract import resolve_vocoder

        if model is None:
            model = bundled_model_dir()
        if model is None:
            raise FlowvoxError(
                "this flowvox install has no bundled default voice; pass a model directory "
                f"(Synthesizer.from_pretrained('DIR'), flowvox speak --model DIR, or {MODEL_ENV})"
            )
        folder = Path(model)
        if is_aligned_dir(folder):
            from flowvox.models.aligned_task import load_aligned_model

            loaded = load_aligned_model(folder, device)
        elif fastpitch.is_fastpitch_dir(folder):
            from flowvox.models.fastpitch_task import load_fastpitch_model

            loaded = load_fastpitch_model(folder, device)
        else:
            loaded = load_infill_model(folder, device)
        if vocoder is None:
            vocoder = named_vocoder(folder)
            if vocoder is None:
                LOG.warning(
                    "model %s names no vocoder: using Griffin-Lim for mel %r (low quality; "
                    "pass a vocoder directory with --vocoder DIR)",
                    folder,
                    loaded.config.mel.name,
                )
        voc = resolve_vocoder(vocoder, loaded.config.mel, device, acoustic_name=f"model {folder}")
        default = default_reference(folder)
        voices, _ = named_voices(folder)
        sampling = sampling_defaults(folder)
        return cls(loaded.model, loaded.tokenizer, voc, transcriber, default, voices, sampling)

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
        FastPitch: an empty reference; a ref_audio or ref_text is refused.
        """
        if self._fastpitch:
            return fastpitch.no_prompt_reference(self.mel_config, ref_audio, ref_text)
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
            ref_audio, ref_text, self._mel, self.sample_rate, self._transcribe, max_seconds
        )
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
        """Lazy chunk strings of ``text`` for the reference's pace (see ``chunk_budget``)."""
        if self._fastpitch:
            budget = fastpitch.fastpitch_budget(opts)
        else:
            budget = chunk_budget(ref.text, ref.seconds, opts.chunk_seconds, opts.speed)
        language = text_language(self.tokenizer, opts.language)
        return iter_text_chunks(text, budget, self.tokenizer, language, opts.normalize)

    def _job(self, ref: Reference, chunk: str, gen_frames: int | None, opts, seed) -> ChunkJob:
        if self._fastpitch:  # an estimate: the model's durations decide
            total = fastpitch.estimate_frames(chunk, self.frame_rate, opts.speed)
        elif gen_frames is None:
            total = rule_frames(ref.frames, ref.text, chunk, opts.speed)
        else:
            total = ref.frames + gen_frames
        ids = token_ids(ref.text, chunk, self.tokenizer)
        # the infill model lines text up with frames and cuts what is left over
        if len(ids) > total and not (self._aligned or self._fastpitch):
            LOG.warning(
                "%d text tokens do not fit in %d frames (reference + generated): the end of "
                "%r will be cut; give a longer duration or a lower speed",
                len(ids),
                total,
                chunk[:40],
            )
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
        """Frames (reference + generated, all chunks) that ``speak`` would generate (for an
        aligned model, which predicts its durations, the F5 rule's estimate of them; for
        FastPitch, the estimate at a nominal speaking rate)."""
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
        if self._fastpitch:
            fastpitch.check_fastpitch_options(opts)
            return
        fastpitch.check_pitch_shift(opts)
        if self._aligned:
            check_aligned_options(opts)

    def _sample(self, jobs: list[ChunkJob], ref: Reference, opts) -> list[torch.Tensor]:
        """Generated log-mels (g_i, f) float32, one per job, by the model's family; with
        ``opts.precision`` "bf16" the model's matrix products run in bfloat16 (autocast)."""
        bf16 = opts.precision == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            mels = self._sample_family(jobs, ref, opts)
        return [mel.float() for mel in mels] if bf16 else mels

    def _sample_family(self, jobs: list[ChunkJob], ref: Reference, opts) -> list[torch.Tensor]:
        if self._fastpitch:
            return fastpitch.sample_fastpitch(self.model, jobs, opts).mels
        if self._aligned:
            prompt_tokens = len(token_ids(ref.text, "", self.tokenizer))
            return sample_aligned(self.model, jobs, prompt_tokens, opts).mels
        return sample_chunks(self.model, jobs, opts).mels

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
