"""``prepare_dataset``: mels, durations, vocab, statistics and manifests for training.

Output folder (see ``flowvox.data.cache`` for the mel cache format)::

    mel_config.json        mel config of every cached mel; checked when a run resumes
    mels/*.safetensors     one (n, f) log-mel per audio file
    <split>.jsonl          prepared manifests (train.jsonl, and test.jsonl etc. when the
                           source gives splits): duration in seconds, extra["mel"] and
                           extra["mel_frames"]
    vocab.txt              character vocab (F5 format, line 0 a space) over the kept texts
    stats.json             counts, hours per speaker, mel mean/std, frame-length percentiles
    prepare_report.json    PrepareReport.to_dict(), with every skipped file and its reason
    prepare_summary.txt    the same for people

Every file is written atomically (temporary name, then rename). A second run reuses each
cache file whose source is unchanged, removes temporary files a killed run left behind,
and deletes cache files of audio no longer in the source. Bad audio files are skipped and
reported; NaN/infinite audio stops the run with a ``FlowvoxError`` naming the file. Mels
are computed in a thread pool of ``workers`` threads (soundfile, soxr and torch release
the GIL). Two runs must not write into one folder at the same time.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from flowvox.audio.mel import MelConfig, MelSpectrogram, get_mel_preset
from flowvox.data.cache import (
    MEL_CONFIG_FILE,
    MEL_DIR,
    check_cache_config,
    save_cache_config,
)
from flowvox.data.manifest import LocatedEntry, ManifestEntry, write_manifest
from flowvox.data.prepare_item import PreparedItem, SkippedFile, prepare_item
from flowvox.data.readers import locate_entries
from flowvox.data.report import PrepareReport
from flowvox.data.stats import dataset_stats
from flowvox.errors import FlowvoxError
from flowvox.text.vocab import build_vocab, save_vocab
from flowvox.utils.atomic import atomic_write_text

VOCAB_FILE, STATS_FILE = "vocab.txt", "stats.json"
REPORT_FILE, SUMMARY_FILE = "prepare_report.json", "prepare_summary.txt"


def prepare_dataset(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    mel_preset: str | MelConfig = "vocos24k",
    workers: int | None = None,
    progress: bool = True,
) -> PrepareReport:
    """Prepare ``source`` (any layout ``read_entries`` accepts) into ``out_dir``.

    ``workers``: threads computing mels (default min(4, CPU count)); 1 runs in this thread.
    Returns the ``PrepareReport``; raises ``FlowvoxError`` when no utterance is usable
    (after writing the report), for NaN/infinite audio, and for a mel config that differs
    from the one already stored in ``out_dir``.
    """
    started = time.perf_counter()
    config = get_mel_preset(mel_preset) if isinstance(mel_preset, str) else mel_preset
    located = locate_entries(source)
    if not located:
        raise FlowvoxError(f"{source}: lists no utterances; give a dataset with some")
    _check_split_names(located)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / MEL_CONFIG_FILE).exists():
        check_cache_config(out, config)
    else:
        save_cache_config(out, config)
    _remove_leftover_temp_files(out)
    (out / MEL_DIR).mkdir(exist_ok=True)

    mel_fn = MelSpectrogram(config)
    results = _map(
        lambda item: prepare_item(item, out, mel_fn),
        located,
        workers or min(4, os.cpu_count() or 1),
        progress,
    )
    kept = [
        (loc.entry, r)
        for loc, r in zip(located, results, strict=True)
        if isinstance(r, PreparedItem)
    ]
    skipped = [r for r in results if isinstance(r, SkippedFile)]
    pruned = _prune_cache(out, {item.mel_file for _, item in kept})

    entries = [_prepared_entry(entry, item) for entry, item in kept]
    items = [item for _, item in kept]
    manifests = _write_manifests(out, entries)
    files = {name: str(out / f) for name, f in [
        ("vocab", VOCAB_FILE), ("stats", STATS_FILE), ("mel_config", MEL_CONFIG_FILE),
        ("report", REPORT_FILE), ("summary", SUMMARY_FILE),
    ]}  # fmt: skip
    vocab_size = 0
    if kept:
        vocab_size = _write_vocab(out / VOCAB_FILE, [e.text for e in entries])
        stats = dataset_stats(entries, items, config.name)
        atomic_write_text(out / STATS_FILE, json.dumps(stats, indent=2) + "\n")

    report = PrepareReport(
        source=str(source),
        out_dir=str(out),
        mel_preset=config.name,
        utterances=len(kept),
        seconds=float(sum(item.seconds for item in items)),
        speakers=len({e.speaker for e in entries}),
        computed=sum(not item.reused for item in items),
        reused=sum(item.reused for item in items),
        pruned=pruned,
        vocab_size=vocab_size,
        manifests=manifests,
        files=files,
        elapsed_s=time.perf_counter() - started,
        skipped=skipped,
    )
    atomic_write_text(out / REPORT_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    atomic_write_text(out / SUMMARY_FILE, report.details())
    if not kept:
        raise FlowvoxError(
            f"{source}: no usable audio; all {len(skipped)} file(s) were skipped "
            f"({report.skipped_by_reason}); see {out / SUMMARY_FILE}"
        )
    return report


def _map(
    fn: Callable[[LocatedEntry], PreparedItem | SkippedFile],
    located: Sequence[LocatedEntry],
    workers: int,
    progress: bool,
) -> list[PreparedItem | SkippedFile]:
    """``fn`` over ``located`` in order, in ``workers`` threads, with a progress bar."""
    results = []
    with tqdm(total=len(located), desc="prepare", unit="utt", file=sys.stderr,
              disable=not progress) as bar:  # fmt: skip
        if workers <= 1:
            for item in located:
                results.append(fn(item))
                bar.update()
            return results
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            for result in pool.map(fn, located):
                results.append(result)
                bar.update()
        finally:  # on an error, pending items are cancelled; running ones finish atomically
            pool.shutdown(wait=True, cancel_futures=True)
    return results


def _check_split_names(located: Sequence[LocatedEntry]) -> None:
    for item in located:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", item.entry.split):
            raise FlowvoxError(
                f"{item.origin}: split {item.entry.split!r} is not a plain name; "
                "use letters, digits, '-' or '_' (e.g. train, test)"
            )


def _prepared_entry(entry: ManifestEntry, item: PreparedItem) -> ManifestEntry:
    extra = {**entry.extra, "mel": item.mel_file, "mel_frames": item.frames}
    return replace(entry, duration=round(item.seconds, 6), extra=extra)


def _write_manifests(out: Path, entries: Sequence[ManifestEntry]) -> dict[str, str]:
    """One ``<split>.jsonl`` per split present; returns split -> path.

    Manifests of splits that an earlier run wrote (per its report) and this one has no
    utterances for are removed, so the folder never mixes two runs.
    """
    splits = sorted({entry.split for entry in entries})
    for split in _previous_splits(out) - set(splits):
        (out / f"{split}.jsonl").unlink(missing_ok=True)
    manifests = {}
    for split in splits:
        path = out / f"{split}.jsonl"
        write_manifest(path, [entry for entry in entries if entry.split == split])
        manifests[split] = str(path)
    return manifests


def _previous_splits(out: Path) -> set[str]:
    try:
        report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
        return {split for split in report["manifests"] if re.fullmatch(r"[A-Za-z0-9_-]+", split)}
    except (OSError, ValueError, KeyError, TypeError):  # no earlier run, or a damaged report
        return set()


def _write_vocab(path: Path, texts: Sequence[str]) -> int:

    tokens = build_vocab(texts)
    save_vocab(tokens, path)
    return len(tokens)


def _remove_leftover_temp_files(out: Path) -> None:
    """Delete temporary files (``.<name>.<random>``) that a killed run left in ``out``."""
    names = "|".join(
        re.escape(n) for n in (MEL_CONFIG_FILE, VOCAB_FILE, STATS_FILE, REPORT_FILE, SUMMARY_FILE)
    )
    temp = re.compile(rf"\.({names}|[A-Za-z0-9_-]+\.jsonl)\..+")
    leftovers = [path for path in out.glob(".*") if temp.fullmatch(path.name)]
    leftovers += (out / MEL_DIR).glob(".*")  # mels/ holds only files of this module
    for path in leftovers:
        if path.is_file():
            path.unlink()


def _prune_cache(out: Path, keep: set[str]) -> int:
    """Remove cache files not in ``keep`` (relative names); returns how many."""
    removed = 0
    for path in (out / MEL_DIR).glob("*.safetensors"):
        if f"{MEL_DIR}/{path.name}" not in keep:
            path.unlink()
            removed += 1
    return removed
