"""Bulk synthesis (``flowvox generate``): many lines, batched, resumable.

Output folder::

    OUT/wavs/<id>.wav      one file per utterance, written atomically
    OUT/manifest.jsonl     one line per finished utterance, in flowvox's manifest format
                           (audio, text, speaker, language, duration, extra={id, ...}),
                           so OUT/ can go straight into ``flowvox prepare``

After each batch its wavs are written, then its manifest lines are appended with a single
write. A run stopped at any point (Ctrl-C, crash, power) keeps every finished batch; a torn
last line is dropped when the folder is opened again, and a rerun skips ids already listed
(whose wav is still there), so it only makes what is missing.

Under torchrun or accelerate launch (RANK, WORLD_SIZE) each rank makes its share of the
batches one process would make, into OUT/wavs/ and its own OUT/manifest.rank-000k.jsonl, and
the parts are merged into OUT/manifest.jsonl when all are done (``flowvox.utils.distributed``):
the same wavs and manifest as one process.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flowvox.audio.io import save_audio
from flowvox.errors import FlowvoxError
from flowvox.infer.bulk_source import BulkItem, pack_batches, read_bulk_source
from flowvox.utils.atomic import atomic_write_text
from flowvox.utils.distributed import (
    Launch,
    finish,
    merge_parts,
    own_file,
    part_paths,
    whole_lines,
)
from flowvox.utils.json_files import append_jsonl

MANIFEST_NAME = "manifest.jsonl"
WAV_DIR = "wavs"
DEFAULT_BATCH_FRAMES = 8000  # padded frames per batch on an accelerator
# On a CPU a batch of more than ~4 rows runs slower per frame (activations leave the cache):
# 2000 was ~20 % faster than 8000 for the tiny preset (benchmarks/results/synth_speed.md).
CPU_BATCH_FRAMES = 2000
FALLBACK_FRAMES_PER_BYTE = 6.3  # 94 frames/s over ≈ 15 UTF-8 bytes/s of read English speech


class BatchSynthesizer(Protocol):
    """What ``generate_bulk`` needs from a ``Synthesizer``."""

    def speak_batch(
        self,
        texts: list[str],
        ref_audio: Any = None,
        ref_text: Any = None,
        options: Any = None,
        seeds: list[int] | None = None,
    ) -> list[Any]: ...


@dataclass
class BulkReport:
    """What one ``generate_bulk`` run did."""

    out_dir: Path
    manifest: Path
    total: int  # items in the source
    skipped: int  # already made by an earlier run
    made: int  # made by this run
    batches: int  # speak_batch calls of this run
    audio_seconds: float  # made by this run
    compute_seconds: float  # this run, wall clock
    failed: list[str] = field(default_factory=list)  # "file:line: message" per failed item
    launch: Launch = Launch()  # which process of how many made this report
    merged: bool = True  # False: this rank's lines wait in its part for a plain run to merge

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per second of audio made (lower is faster)."""
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else float("nan")

    def summary(self) -> str:
        who = f"{self.launch.label}: " if self.launch.label else ""
        lines = [
            f"{who}{self.made} utterances made ({self.audio_seconds:.1f} s of audio) in "
            f"{self.batches} batches, {self.compute_seconds:.1f} s"
            + (f", RTF {self.real_time_factor:.3f}" if self.audio_seconds else ""),
            f"{self.skipped} of {self.total} were already in {self.manifest}",
        ]
        if not self.merged:
            lines.append(
                f"its lines are in {self.manifest.stem}.rank-*.jsonl: once every rank is done, "
                "run the same command once without RANK/WORLD_SIZE to merge them"
            )
        if self.failed:
            lines.append(f"{len(self.failed)} failed (rerun to retry them):")
            lines += [f"  {message}" for message in self.failed[:10]]
            if len(self.failed) > 10:
                lines.append(f"  ... and {len(self.failed) - 10} more")
        return "\n".join(lines)


def generate_bulk(
    synth: BatchSynthesizer,
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: Any = None,
    batch_frames: int | None = None,
    progress: bool = True,
    ref_audio: str | os.PathLike | None = None,
    ref_text: str | None = None,
    launch: Launch | None = None,
) -> BulkReport:
    """Speak every item of ``source`` into ``out_dir`` (see the module docstring).

    ``options`` is a ``SynthesisOptions`` (or None: the synthesizer's defaults). With
    ``options.seed`` set every item gets what ``Synthesizer.speak`` gives it alone with the
    seed ``options.seed + crc32(id)``, whatever batch it lands in (so reruns and resumed runs
    repeat it, and no two lines share their noise). An item the
    synthesizer refuses (``FlowvoxError``, e.g. text with no speakable character) is listed
    in ``BulkReport.failed`` and the run goes on; any other error stops the run, keeping
    the finished batches. ``ref_audio``/``ref_text``: the reference of items naming none.
    ``batch_frames``: padded frames per batch; None takes ``default_batch_frames(synth)``.
    ``launch``: this process's share (``flowvox.utils.distributed``; the CLI passes
    ``launch_from_env()``); None: one process does everything, whatever the environment.
    """
    launch = Launch() if launch is None else launch
    items = read_bulk_source(source, ref_audio, ref_text)
    out = Path(out_dir)
    _check_out_dir(out)
    manifest = out / MANIFEST_NAME
    # several ranks, or parts of theirs to finish: batches over the whole source (the same
    # in every rank, whatever it finds done); else over what is left, as ever
    whole_plan = launch.world > 1 or bool(part_paths(manifest))
    own = own_file(manifest, launch)  # the file this process appends to
    done = _finished_ids(manifest, out, own)
    _check_same_text(items, done, manifest)
    pending = [item for item in items if item.id not in done]
    skipped = len(items) - len(pending)
    report = BulkReport(out, manifest, len(items), skipped, 0, 0, 0.0, 0.0, launch=launch)
    if not pending and not whole_plan:
        return report
    for key in dict.fromkeys(item.reference_key for item in pending):
        _check_reference(synth, key, next(i for i in pending if i.reference_key == key), options)
    planned = items if whole_plan else pending
    frames = {item.id: _frames(synth, item, options) for item in planned}
    if batch_frames is None:
        batch_frames = default_batch_frames(synth)
    plan = pack_batches(planned, lambda item: frames[item.id], batch_frames)
    # longest items first: an out-of-memory batch shows in the first seconds, not at the end
    plan.sort(key=lambda batch: -max(frames[item.id] for item in batch))
    batches = [[item for item in batch if item.id not in done] for batch in launch.shard(plan)]
    batches = [batch for batch in batches if batch]
    if batches:
        (out / WAV_DIR).mkdir(parents=True, exist_ok=True)
    start, count = time.perf_counter(), sum(map(len, batches))
    total = sum(frames[item.id] for batch in batches for item in batch)  # an honest ETA
    with _progress_bar(total, progress and launch.rank == 0, launch.label) as bar:
        for batch in batches:
            made = _run_batch(synth, batch, options, out, report)
            append_jsonl(own, made)
            report.made += len(made)
            report.audio_seconds += sum(record["duration"] for record in made)
            report.compute_seconds = time.perf_counter() - start
            bar.update(sum(frames[item.id] for item in batch))
            bar.set_postfix_str(f"{report.made + len(report.failed)}/{count} utt")
    order = [item.id for batch in plan for item in batch]
    report.merged = finish(launch, lambda: merge_parts(manifest, _record_key(out), order))
    return report


def default_batch_frames(synth: BatchSynthesizer) -> int:
    """``CPU_BATCH_FRAMES`` for a synthesizer on the CPU, else ``DEFAULT_BATCH_FRAMES``."""
    device = getattr(synth, "device", None)
    return CPU_BATCH_FRAMES if getattr(device, "type", device) == "cpu" else DEFAULT_BATCH_FRAMES


def _run_batch(
    synth: BatchSynthesizer, batch: list[BulkItem], options: Any, out: Path, report: BulkReport
) -> list[dict[str, Any]]:
    """Speak one batch, write its wavs; the manifest records of what was made."""

    ref_audio, ref_text = batch[0].reference_key
    report.batches += 1
    try:
        texts, seeds = [item.text for item in batch], _item_seeds(batch, options)
        speeches = synth.speak_batch(texts, ref_audio, ref_text, options, seeds)
        pairs = list(zip(batch, speeches, strict=True))
    except FlowvoxError as batch_error:
        if len(batch) == 1:
            report.failed.append(f"{batch[0].origin}: {batch_error}")
            return []
        pairs = []
        for item in batch:  # find which items the synthesizer refuses; keep the others
            try:
                seeds = _item_seeds([item], options)
                speech = synth.speak_batch([item.text], ref_audio, ref_text, options, seeds)[0]
            except FlowvoxError as err:
                report.failed.append(f"{item.origin}: {err}")
                continue
            pairs.append((item, speech))
    records = []
    for item, speech in pairs:
        wav, sample_rate = speech
        relative = f"{WAV_DIR}/{item.id}.wav"
        save_audio(out / relative, wav, sample_rate)
        records.append(_record(item, relative, len(wav) / sample_rate, options))
    return records


def _item_seeds(batch: list[BulkItem], options: Any) -> list[int] | None:
    """With ``options.seed``: seed + crc32(id) per item, so every line has its own noise and
    a rerun (in any batch) repeats it; without: None (fresh noise per text)."""
    seed = getattr(options, "seed", None)
    if seed is None:
        return None
    return [(int(seed) + zlib.crc32(item.id.encode())) % 2**31 for item in batch]


def _record(item: BulkItem, audio: str, duration: float, options: Any) -> dict[str, Any]:
    """A manifest line (flowvox.data.manifest format) for one finished item."""
    extra: dict[str, Any] = {"id": item.id}
    if item.ref_audio:
        extra["ref_audio"] = item.ref_audio
    if item.ref_text:
        extra["ref_text"] = item.ref_text
    for name in ("nfe", "cfg", "sway", "solver", "speed", "pitch_shift", "precision", "seed"):
        if options is not None and hasattr(options, name):
            extra[name] = getattr(options, name)
    speaker = item.speaker or (Path(item.ref_audio).stem if item.ref_audio else "default")
    return {
        "audio": audio,
        "text": item.text,
        "speaker": speaker,
        "language": item.language or "en",
        "duration": round(duration, 4),
        "extra": extra,
    }


def _frames(synth: BatchSynthesizer, item: BulkItem, options: Any) -> int:
    """Estimated frames (reference + generated) of ``item``, for packing batches."""
    estimate = getattr(synth, "estimate_frames", None)
    if estimate is not None:
        try:
            return int(estimate(item.text, item.ref_audio, item.ref_text, options))
        except FlowvoxError:
            pass  # a text the synthesizer refuses: it is reported when its batch runs
    duration = getattr(options, "duration", None)
    if duration:
        return round(duration * 94)
    speed = getattr(options, "speed", None) or 1.0
    return max(1, round(len(item.text.encode("utf-8")) * FALLBACK_FRAMES_PER_BYTE / speed))


def _check_reference(synth: BatchSynthesizer, key: tuple, item: BulkItem, options: Any) -> None:
    """Load each reference once before any work, so a bad one stops the run at once
    (``ref_audio`` None: the model's default reference, which must then exist)."""
    ref_audio, ref_text = key
    load = getattr(synth, "reference", None)
    if load is None:
        return
    limit = getattr(options, "max_ref_seconds", None)
    try:
        load(ref_audio, ref_text) if limit is None else load(ref_audio, ref_text, limit)
    except FlowvoxError as err:
        raise FlowvoxError(f"{item.origin}: {err}") from err


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"{out}: exists and is not a folder; choose another OUT_DIR")
    if not out.parent.is_dir():
        raise FlowvoxError(f"{out.parent}: no such folder; create it first (mkdir -p)")
    # the folder itself is made only when the first batch is about to run (nothing is left
    # behind by a refused run)


def _finished_ids(manifest: Path, out: Path, own: Path) -> dict[str, str]:
    """id -> text of the items listed in the manifest or in any rank's part whose wav still
    exists.

    In ``own`` (the file this process appends to) a torn last line (a run killed mid-append)
    and lines of items whose wav is gone or that are listed before are dropped (atomic
    rewrite), so that a redone item is listed once. Other files are only read: another rank
    may be appending to its part now (its torn last line is left out).
    """
    done: dict[str, str] = {}
    for path in [manifest, *part_paths(manifest)]:
        lines, torn = whole_lines(path)
        kept: list[str] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            item_id, text, audio = _parse_record(line, f"{path}:{number}")
            if (out / audio).is_file() and item_id not in done:
                done[item_id] = text
                kept.append(line + "\n")
        if path == own and (torn or len(kept) != len(lines)):
            atomic_write_text(path, "".join(kept))
    return done


def _parse_record(line: str, where: str) -> tuple[str, str, str]:
    """(id, text, audio) of a manifest line; a line of another kind is a FlowvoxError."""
    try:
        record = json.loads(line)
        return record["extra"]["id"], record["text"], record["audio"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise FlowvoxError(
            f"{where}: not a flowvox generate record ({err}); use a new OUT_DIR"
        ) from err


def _record_key(out: Path):
    """For ``merge_parts``: a manifest line -> its id while its wav exists, else None."""

    def key(line: str) -> str | None:
        try:
            item_id, _, audio = _parse_record(line, "")
        except FlowvoxError:
            return None
        return item_id if (out / audio).is_file() else None

    return key


def _check_same_text(items: list[BulkItem], done: dict[str, str], manifest: Path) -> None:
    for item in items:
        if item.id in done and done[item.id] != item.text:
            raise FlowvoxError(
                f"{item.origin}: id {item.id} is already in {manifest} with other text "
                f"({done[item.id][:40]!r}); the source changed: use a new OUT_DIR"
            )


def _progress_bar(total_frames: int, enabled: bool, label: str = ""):
    from tqdm import tqdm

    desc = f"generate ({label})" if label else "generate"
    return tqdm(
        total=total_frames, desc=desc, unit="frame", unit_scale=True, file=sys.stderr,
        disable=not enabled, dynamic_ncols=True,
    )  # fmt: skip
