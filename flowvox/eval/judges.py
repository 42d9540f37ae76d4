"""Score generated audio, and the ground truth beside it, with every judge.

Per utterance of a system (an NFE setting, or a folder of audio) the judges give:
- intelligibility: the recogniser's transcript and its word errors against the text;
- speaker similarity: resemblyzer cosine to the reference clip and to the ground truth;
- against the ground truth: MCD (dB) and F0 RMSE (Hz) along one DTW path
  (:mod:`flowvox.eval.mcd`, :mod:`flowvox.eval.pitch_error`), and the duration ratio
  generated seconds / ground-truth seconds (whole files, as written).
The ground truth itself is judged as the system ``GROUND_TRUTH`` (its WER against the text,
its similarity to the reference), so each model figure has the same judge's figure on real
audio beside it.

A judge that cannot score an utterance (silent output: no speaker embedding, no voiced
frame) leaves ``None`` there and the summary counts the rest; the run goes on.
"""
# n: analysis frames, d: cepstral coefficients / embedding width

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flowvox.audio import load_audio
from flowvox.audio.asr import make_transcriber
from flowvox.errors import FlowvoxError
from flowvox.eval.asr_pool import TranscriptionPool
from flowvox.eval.items import EvalItem
from flowvox.eval.mcd import (
    ANALYSIS_MEL,
    analysis_wave,
    dtw_path,
    mel_cepstral_distortion,
    mel_cepstrum,
)
from flowvox.eval.pitch_error import f0_rmse, f0_track
from flowvox.eval.speaker import SpeakerEncoder
from flowvox.eval.text_norm import wer

GROUND_TRUTH = "ground truth"


@dataclass
class UtteranceScore:
    """All judges' figures for one utterance of one system (``None``: not measurable)."""

    id: str
    system: str
    group: str
    text: str
    audio: str
    hypothesis: str = ""
    wer: float | None = None
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_words: int = 0
    seconds: float = 0.0
    sim_to_ref: float | None = None
    sim_to_gt: float | None = None
    mcd_db: float | None = None
    f0_rmse_hz: float | None = None
    voiced_pairs: int | None = None
    duration_ratio: float | None = None


@dataclass
class JudgeConfig:
    """Which recogniser, how many ASR worker processes, how many cepstral coefficients."""

    asr: str = "pocketsphinx"  # see flowvox.audio.asr.make_transcriber
    workers: int = 1  # ASR processes beside this one; 0: decode here
    mcd_coefficients: int = 24  # c1..cD
    speaker: bool = True  # resemblyzer similarity (off: faster, no figure)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise FlowvoxError(f"ASR workers {self.workers}: give 0 or more")
        if not 1 <= self.mcd_coefficients < ANALYSIS_MEL.n_mels:
            raise FlowvoxError(
                f"--mcd-coefficients {self.mcd_coefficients}: use 1..{ANALYSIS_MEL.n_mels - 1}"
                " (13-25 is usual)"
            )


@dataclass(frozen=True)
class _Acoustic:
    cepstra: np.ndarray  # (n, d)
    f0: np.ndarray  # (n,)


class Judges:
    """Holds the loaded judges and per-file caches (references and ground truth are reused)."""

    def __init__(self, config: JudgeConfig, transcriber=None) -> None:

        self.config = config
        # built here even with workers: a bad --asr fails before any work starts
        self._asr = transcriber or make_transcriber(config.asr, config.device)
        self._speaker = SpeakerEncoder(config.device) if config.speaker else None
        self._embeddings: dict[str, np.ndarray | None] = {}
        self._acoustic: dict[str, _Acoustic | None] = {}

    def score(
        self,
        items: list[EvalItem],
        systems: dict[str, dict[str, Path]],
        on_progress: Callable[[int], None] | None = None,
        ground_truth: bool = True,
    ) -> list[UtteranceScore]:
        """Scores of every item in every system (``id -> audio file``), then (``ground_truth``)
        of the ground truth of items that have one, in that order. ``on_progress(k)`` is
        called as jobs finish: 2 per file (acoustic and speaker judges, then ASR)."""
        jobs = [
            (name, item, Path(files[item.id]))
            for name, files in systems.items()
            for item in items
            if item.id in files
        ]
        if ground_truth:
            jobs += [(GROUND_TRUTH, item, Path(item.audio)) for item in items if item.audio]
        pool = TranscriptionPool(self.config.asr, self.config.workers, local=self._asr)
        with pool:
            pool.submit([path for _, _, path in jobs])  # decoding starts now, beside us
            scores = []
            for name, item, path in jobs:
                scores.append(self._score_audio(name, item, path))
                if on_progress is not None:
                    on_progress(1)
            hypotheses = pool.results(on_progress)
        for score, hypothesis, (_, item, _) in zip(scores, hypotheses, jobs, strict=True):
            _add_word_errors(score, hypothesis, item.language)
        return scores

    def _score_audio(self, system: str, item: EvalItem, path: Path) -> UtteranceScore:
        clip = load_audio(path)
        score = UtteranceScore(
            item.id, system, item.group, item.text, str(path),
            seconds=len(clip.wav) / clip.sample_rate,
        )  # fmt: skip
        if self._speaker is not None:
            mine = self._embedding(str(path), clip)
            for attribute, other in (("sim_to_ref", item.ref_audio), ("sim_to_gt", item.audio)):
                if other is None or (system == GROUND_TRUTH and attribute == "sim_to_gt"):
                    continue
                theirs = self._embedding(other)
                if mine is not None and theirs is not None:
                    setattr(score, attribute, float(np.dot(mine, theirs)))
        if item.audio is not None and system != GROUND_TRUTH:
            truth = load_audio(item.audio)
            score.duration_ratio = score.seconds / (len(truth.wav) / truth.sample_rate)
            ours, true = self._features(str(path), clip), self._features(item.audio, truth)
            if ours is not None and true is not None:
                path_pairs = dtw_path(ours.cepstra, true.cepstra)  # (k, 2)
                score.mcd_db = mel_cepstral_distortion(ours.cepstra, true.cepstra, path_pairs)
                pitch = f0_rmse(ours.f0, true.f0, path_pairs)
                score.voiced_pairs = pitch.voiced_pairs
                score.f0_rmse_hz = pitch.f0_rmse_hz if pitch.voiced_pairs else None
        return score

    def _embedding(self, path: str, clip=None) -> np.ndarray | None:
        """Unit speaker embedding (d,) of a file, cached; None for audio without speech."""
        if path not in self._embeddings:
            clip = clip or load_audio(path)
            try:
                self._embeddings[path] = self._speaker.embed(clip.wav, clip.sample_rate)
            except FlowvoxError:
                self._embeddings[path] = None
        return self._embeddings[path]

    def _features(self, path: str, clip) -> _Acoustic | None:
        """Cached mel-cepstra and F0 of a file's trimmed 16 kHz waveform; None if silent."""
        if path not in self._acoustic:
            try:
                wav16 = analysis_wave(clip.wav, clip.sample_rate)
                cepstra = mel_cepstrum(wav16, self.config.mcd_coefficients)
                self._acoustic[path] = _Acoustic(cepstra, f0_track(wav16))
            except FlowvoxError:
                self._acoustic[path] = None
        return self._acoustic[path]


def _add_word_errors(score: UtteranceScore, hypothesis: str, language: str) -> None:
    score.hypothesis = hypothesis
    try:
        errors = wer(score.text, hypothesis, language)
    except FlowvoxError:  # a text with no words after normalisation: nothing to score
        return
    score.wer = errors.wer
    score.substitutions, score.deletions = errors.substitutions, errors.deletions
    score.insertions, score.reference_words = errors.insertions, errors.reference_words
