"""Build a captioned sound corpus: plan, render in parallel, resume, write manifests and card.

Layout of ``out_dir``::

    wavs/<clip_id>.wav     16 kHz mono PCM_16, exactly ``seconds`` long
    manifest.jsonl         every clip (flowvox.data.manifest format; text = the caption;
                           extra = clip_id, construct, attributes, events, captions, held_out)
    train.jsonl, test.jsonl, test_unseen.jsonl   the splits (flowvox.data.sounds.held_out)
    SOUNDS.md              the corpus card
    sounds.json            seed, seconds and loudness the folder was built with

Every wav is written atomically; a second run with the same arguments renders only the
clips whose wav is missing or invalid, and a run with more ``clips`` adds to the corpus
(clip i's plan does not depend on the number of clips). Another seed, length or loudness
in the same folder is refused. Manifests and card are rewritten at the end from disk.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from flowvox.audio.io import save_audio
from flowvox.data.corpus.voices import check_available, resolve_voice
from flowvox.data.manifest import ManifestEntry, write_manifest
from flowvox.data.parallel import run_chunks
from flowvox.data.sounds.card import render_card
from flowvox.data.sounds.config import SoundCorpusConfig, SoundCorpusReport
from flowvox.data.sounds.held_out import SPLITS
from flowvox.data.sounds.plan import ClipPlan, plan_sounds
from flowvox.data.sounds.render import SAMPLE_RATE, check_sox, render_clip
from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_write_text

__all__ = ["SoundCorpusConfig", "SoundCorpusReport", "build_sound_corpus"]

CHUNK_SIZE = 8  # clips per worker task
STAMP = "sounds.json"


@dataclass
class _ChunkResult:
    seconds: float  # wall time of the chunk in its worker
    built: list[str]  # clip ids
    failures: dict[str, str]  # clip_id -> reason


def build_sound_corpus(config: SoundCorpusConfig, progress: bool = True) -> SoundCorpusReport:
    """Build (or complete) the sound corpus described by ``config``; see the module docstring.

    Bad input raises ``FlowvoxError`` before anything is written.
    """
    start = time.perf_counter()
    out = Path(config.out_dir)
    if config.workers is not None and config.workers < 1:
        raise FlowvoxError(f"--workers {config.workers}: give 1 or more")
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"{out}: is a file; give a folder for the sound corpus")
    check_sox()
    plan = plan_sounds(config.clips, config.seed, config.seconds)
    voices = sorted({e.voice for p in plan for e in p.events if e.kind == "speech"})
    check_available([resolve_voice(v) for v in voices])
    stamp = _check_stamp(out, config)

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / STAMP, stamp)
    _remove_stale_temporaries(out / "wavs")
    samples = round(config.seconds * SAMPLE_RATE)
    todo = [p for p in plan if not is_finished(out / p.rel_path, samples)]
    results = _run_chunks(todo, config, out, progress)

    failures = sorted(f"{c}: {why}" for r in results for c, why in r.failures.items())
    entries = _entries(plan, out, samples)
    report = SoundCorpusReport(
        out_dir=out,
        manifest=out / "manifest.jsonl",
        card=out / "SOUNDS.md",
        planned=len(plan),
        built=sum(len(r.built) for r in results),
        skipped=len(plan) - len(todo),
        failed=len(failures),
        clips=len(entries),
        wall_seconds=time.perf_counter() - start,
        worker_seconds=sum(r.seconds for r in results),
        failures=failures,
    )
    write_manifest(report.manifest, entries)
    for split in SPLITS:
        write_manifest(out / f"{split}.jsonl", [e for e in entries if e.split == split])
    atomic_write_text(report.card, render_card(config, entries, report))
    return report


def is_finished(path: Path, samples: int) -> bool:
    """True for a readable 16 kHz mono wav of exactly ``samples`` samples."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False
    return (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, samples)


def build_chunk(plans: list[ClipPlan], out: Path, seconds: float, lufs: float) -> _ChunkResult:
    """Render and save a few clips (runs in a worker process)."""
    start = time.perf_counter()
    built, failures = [], {}
    for plan in plans:
        try:
            wav = render_clip(plan.events, seconds, SAMPLE_RATE, lufs)
            save_audio(out / plan.rel_path, wav, SAMPLE_RATE)
            built.append(plan.clip_id)
        except FlowvoxError as err:
            failures[plan.clip_id] = str(err)
    return _ChunkResult(time.perf_counter() - start, built, failures)


def _check_stamp(out: Path, config: SoundCorpusConfig) -> str:
    """The stamp text for ``config``; ``FlowvoxError`` when ``out`` was built otherwise."""
    wanted = {"seed": config.seed, "seconds": config.seconds, "target_lufs": config.target_lufs}
    path = out / STAMP
    if path.is_file():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            found = None
        if found != wanted:
            raise FlowvoxError(
                f"{out} holds a sound corpus built with {found} (this run: {wanted}); "
                "give the same --seed and --seconds, or a new folder"
            )
    elif (out / "wavs").is_dir():
        raise FlowvoxError(f"{out}/wavs exists but {STAMP} does not; give a new folder")
    return json.dumps(wanted) + "\n"


def _run_chunks(
    todo: list[ClipPlan], config: SoundCorpusConfig, out: Path, progress: bool
) -> list[_ChunkResult]:
    """Run ``build_chunk`` over chunks of ``todo``: inline for one worker, else in a pool."""
    chunks = [todo[i : i + CHUNK_SIZE] for i in range(0, len(todo), CHUNK_SIZE)]
    args = [(c, out, config.seconds, config.target_lufs) for c in chunks]
    if (config.workers or os.cpu_count() or 1) > 1 and len(chunks) > 1:
        # import loudness_normalize's pyloudnorm (with scipy, ~1 s) once here, where forked
        # workers inherit it, not once per worker
        import pyloudnorm  # noqa: F401
    return run_chunks(
        build_chunk, args, _done, len(todo), config.workers, "sounds", "clip", progress
    )


def _done(result: _ChunkResult) -> int:
    return len(result.built) + len(result.failures)


def _entries(plan: list[ClipPlan], out: Path, samples: int) -> list[ManifestEntry]:
    """Manifest entries for the planned clips whose wav is on disk and valid."""
    entries = []
    for p in plan:
        if not is_finished(out / p.rel_path, samples):
            continue
        extra = {
            "clip_id": p.clip_id,
            "construct": p.construct,
            "sources": p.sources,
            "attributes": p.attributes.to_dict(),
            "events": [e.to_dict() for e in p.events],
            "captions": p.captions,
        }
        if p.held_out is not None:
            extra["held_out"] = p.held_out
        entries.append(
            ManifestEntry(
                audio=str((out / p.rel_path).resolve()),
                text=p.caption,
                speaker="sounds",
                duration=round(samples / SAMPLE_RATE, 4),
                split=p.split,
                extra=extra,
            )
        )
    return entries


def _remove_stale_temporaries(wavs: Path) -> None:
    """Delete temporary files a killed run left (``atomic_path`` names: ``.<name>.wav.*.wav``)."""
    if wavs.is_dir():
        for stale in wavs.glob(".*.wav.*.wav"):
            stale.unlink(missing_ok=True)
