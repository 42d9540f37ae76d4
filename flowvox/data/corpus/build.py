"""Build a synthetic speech corpus: plan, synthesise in parallel, resume, write manifest and card.

Layout of ``out_dir``::

    wavs/<speaker slug>/<utt_id>.wav   mono PCM_16 at sample_rate, trimmed, loudness-normalised
    manifest.jsonl, train.jsonl, test.jsonl   (flowvox.data.manifest format)
    test_unseen.jsonl                  with pseudo-speakers: the unseen pseudo-speakers
    CORPUS.md                          the corpus card
    LICENSE-wordnet.txt (and LICENSE-fortunes-es.txt with Spanish voices)

Every wav is written atomically, so an interrupted run leaves no half-written file under a
final name; running again with the same arguments skips the valid wavs already there.
Manifests and card are rewritten (atomically) at the end from what exists on disk.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from flowvox.audio.io import (
    is_silent,
    load_audio,
    loudness_normalize,
    resample,
    save_audio,
    trim_silence,
)
from flowvox.audio.voice_change import VoiceChange, change_voice
from flowvox.data.corpus.card import render_card
from flowvox.data.corpus.config import CorpusConfig, CorpusReport, EngineSpeed
from flowvox.data.corpus.engines import synthesize_raw
from flowvox.data.corpus.plan import PlannedUtterance, plan_corpus, select_voices
from flowvox.data.corpus.pseudo import UNSEEN_SPLIT
from flowvox.data.corpus.sentences import licence_text, text_source
from flowvox.data.corpus.voices import VoiceInfo, check_available
from flowvox.data.manifest import ManifestEntry, write_manifest
from flowvox.data.parallel import run_chunks
from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_write_text

CHUNK_SIZE = 16  # sentences per task (one festival process serves a whole chunk)


@dataclass
class _ChunkResult:
    engine: str
    seconds: float  # wall time of the chunk in its worker
    durations: dict[str, float]  # utt_id -> audio seconds of the built wav
    failures: dict[str, str]  # utt_id -> reason


def build_corpus(config: CorpusConfig, progress: bool = True) -> CorpusReport:
    """Build (or complete) the corpus described by ``config``; see the module docstring."""
    start = time.perf_counter()
    if config.sample_rate < 8000:
        raise FlowvoxError(f"--sample-rate {config.sample_rate}: use 8000 Hz or more")
    if config.workers is not None and config.workers < 1:
        raise FlowvoxError(f"--workers {config.workers}: give 1 or more")
    voices = select_voices(config.voices, config.languages)
    check_available(voices)
    sources = {lang: text_source(lang) for lang in sorted({v.language for v in voices})}
    plan = plan_corpus(
        voices, sources, config.utterances, config.hours, config.seed, config.pseudo_speakers
    )
    out = Path(config.out_dir)
    _remove_stale_temporaries(out / "wavs")
    todo = [u for u in plan if wav_seconds(out / u.rel_path, config.sample_rate) is None]

    results = _run_chunks(_chunks(todo), config, out, progress)

    engines: dict[str, EngineSpeed] = {}
    failures = []
    for result in results:
        speed = engines.setdefault(result.engine, EngineSpeed())
        speed.utterances += len(result.durations)
        speed.audio_seconds += sum(result.durations.values())
        speed.worker_seconds += result.seconds
        failures += [f"{utt}: {why}" for utt, why in result.failures.items()]
    entries = _entries(plan, out, config.sample_rate)
    built_seconds = sum(e.audio_seconds for e in engines.values())
    wall = time.perf_counter() - start
    report = CorpusReport(
        out_dir=out,
        manifest=out / "manifest.jsonl",
        card=out / "CORPUS.md",
        planned=len(plan),
        built=sum(e.utterances for e in engines.values()),
        skipped=len(plan) - len(todo),
        failed=len(failures),
        audio_hours=sum(e.duration for e in entries) / 3600.0,
        built_hours=built_seconds / 3600.0,
        wall_seconds=wall,
        hours_per_minute=built_seconds / 3600.0 / (wall / 60.0),
        engines=engines,
        failures=sorted(failures),
    )
    write_manifest(report.manifest, entries)
    splits = ("train", "test", UNSEEN_SPLIT) if config.pseudo_speakers else ("train", "test")
    for split in splits:
        write_manifest(out / f"{split}.jsonl", [e for e in entries if e.split == split])
    if not config.pseudo_speakers:  # left by an earlier build with pseudo-speakers
        (out / f"{UNSEEN_SPLIT}.jsonl").unlink(missing_ok=True)
    for source in sources.values():
        atomic_write_text(out / source.licence_file, licence_text(source.licence_file))
    atomic_write_text(report.card, render_card(config, voices, sources, entries, report))
    return report


def wav_seconds(path: Path, sample_rate: int) -> float | None:
    """Duration of a finished corpus wav, or ``None`` when missing, unreadable or mismatched."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    if info.samplerate != sample_rate or info.frames == 0 or info.channels != 1:
        return None
    return info.frames / info.samplerate


def finish_utterance(
    raw: Path,
    final: Path,
    sample_rate: int,
    target_lufs: float,
    change: VoiceChange | None = None,
) -> float:
    """Engine wav -> trimmed, voice-changed (pseudo-speakers, at the engine's rate),
    resampled, loudness-normalised PCM_16 wav; returns its seconds.

    Raises ``FlowvoxError`` when the engine output is empty, NaN or silent.
    """
    clip = load_audio(raw)  # FlowvoxError for empty or non-finite audio
    if is_silent(clip.wav):
        raise FlowvoxError(f"{raw}: engine output is silent")
    wav = trim_silence(clip.wav, clip.sample_rate)
    if change is not None:
        wav = change_voice(wav, clip.sample_rate, change)
    wav = resample(wav, clip.sample_rate, sample_rate)
    wav = loudness_normalize(wav, sample_rate, target_lufs)
    save_audio(final, wav, sample_rate)
    return len(wav) / sample_rate


def build_chunk(
    voice: VoiceInfo, items: list[PlannedUtterance], out: Path, sample_rate: int, lufs: float
) -> _ChunkResult:
    """Synthesise and finish one voice's chunk of utterances (runs in a worker process)."""
    start = time.perf_counter()
    durations, failures = {}, {}
    with tempfile.TemporaryDirectory(prefix="flowvox-corpus-") as folder:
        raws = synthesize_raw(voice, [u.text for u in items], Path(folder))
        for item, raw in zip(items, raws, strict=True):
            if raw is None:
                failures[item.utt_id] = f"{voice.name} wrote no audio"
                continue
            try:
                final = out / item.rel_path
                change = None if item.pseudo is None else item.pseudo.change
                durations[item.utt_id] = finish_utterance(raw, final, sample_rate, lufs, change)
            except FlowvoxError as err:
                failures[item.utt_id] = str(err)
    return _ChunkResult(voice.engine, time.perf_counter() - start, durations, failures)


def _chunks(todo: list[PlannedUtterance]) -> list[list[PlannedUtterance]]:
    """Split each voice's utterances (its pseudo-speakers' included) into chunks, then
    interleave the voices round-robin."""
    by_voice: dict[str, list[list[PlannedUtterance]]] = {}
    for voice in dict.fromkeys(u.voice.name for u in todo):
        mine = [u for u in todo if u.voice.name == voice]
        by_voice[voice] = [mine[i : i + CHUNK_SIZE] for i in range(0, len(mine), CHUNK_SIZE)]
    rounds = max((len(c) for c in by_voice.values()), default=0)
    return [c[r] for r in range(rounds) for c in by_voice.values() if r < len(c)]


def _run_chunks(
    chunks: list[list[PlannedUtterance]], config: CorpusConfig, out: Path, progress: bool
) -> list[_ChunkResult]:
    """Run ``build_chunk`` over all chunks: inline for one worker, else in a process pool."""
    args = [(c[0].voice, c, out, config.sample_rate, config.target_lufs) for c in chunks]
    total = sum(len(c) for c in chunks)
    return run_chunks(build_chunk, args, _done, total, config.workers, "corpus", "utt", progress)


def _done(result: _ChunkResult) -> int:
    return len(result.durations) + len(result.failures)


def _entries(plan: list[PlannedUtterance], out: Path, sample_rate: int) -> list[ManifestEntry]:
    """Manifest entries for the planned utterances whose wav is on disk and valid."""
    entries = []
    for u in plan:
        seconds = wav_seconds(out / u.rel_path, sample_rate)
        if seconds is None:
            continue
        extra = {"voice": u.voice.name, "engine": u.voice.engine, "sentence_id": u.sentence_id}
        if u.voice.person is not None:
            extra["person"] = u.voice.person
        if u.pseudo is not None:
            extra["pseudo_speaker"] = u.pseudo.manifest_extra()
        entries.append(
            ManifestEntry(
                audio=str((out / u.rel_path).resolve()),
                text=u.text,
                speaker=u.speaker_slug,
                language=u.voice.language,
                duration=round(seconds, 4),
                split=u.split,
                extra=extra,
            )
        )
    return entries


def _remove_stale_temporaries(wavs: Path) -> None:
    """Delete temporary files a killed run left (``atomic_path`` names: ``.<name>.wav.*.wav``)."""
    if wavs.is_dir():
        for stale in wavs.glob("*/.*.wav.*.wav"):
            stale.unlink(missing_ok=True)
