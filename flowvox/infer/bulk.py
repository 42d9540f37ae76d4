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

    @property
    def real_time_factor(self) -> float:
        """Compute seconds per second of audio made (lower is faster)."""
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else float("nan")

    def summary(self) -> str:
        lines = [
            f"{self.made} utterances made ({self.audio_seconds:.1f} s of audio) in "
            f"{self.batches} batches, {self.compute_seconds:.1f} s"
            + (f", RTF {self.real_time_factor:.3f}" if self.audio_seconds else ""),
            f"{self.skipped} of {self.total} were already in {self.manifest}",
        ]
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
    """
    items = read_bulk_source(source, ref_audio, ref_text)
    out = Path(out_dir)
    _check_out_dir(out)
    manifest = out / MANIFEST_NAME
    done = _finished_ids(manifest, out)
    _check_same_text(items, done, manifest)
    todo = [item for item in items if item.id not in done]
    report = BulkReport(out, manifest, len(items), len(items) - len(todo), 0, 0, 0.0, 0.0)
    if not todo:
        return report
    for key in dict.fromkeys(item.reference_key for item in todo):
        _check_reference(synth, key, next(i for i in todo if i.reference_key == key), options)
    frames = {item.id: _frames(synth, item, options) for item in todo}
    if batch_frames is None:
        batch_frames = default_batch_frames(synth)
    batches = pack_batches(todo, lambda item: frames[item.id], batch_frames)
    # longest items first: an out-of-memory batch shows in the first seconds, not at the end
    batches.sort(key=lambda batch: -max(frames[item.id] for item in batch))
    (out / WAV_DIR).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with _progress_bar(sum(frames.values()), progress) as bar:  # frames: an honest ETA
        for batch in batches:
            made = _run_batch(synth, batch, options, out, report)
            append_jsonl(manifest, made)
            report.made += len(made)
            report.audio_seconds += sum(record["duration"] for record in made)
            report.compute_seconds = time.perf_counter() - start
            bar.update(sum(frames[item.id] for item in batch))
            bar.set_postfix_str(f"{report.made + len(report.failed)}/{len(todo)} utt")
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


def _finished_ids(manifest: Path, out: Path) -> dict[str, str]:
    """id -> text of the items listed in the manifest whose wav still exists.

    Lines of items whose wav is gone, and a torn last line (a run killed mid-append), are
    dropped from the file here (atomic rewrite), so that a redone item is listed once.
    """
    if not manifest.is_file():
        return {}
    data = manifest.read_bytes().decode("utf-8", errors="replace")
    lines = data.splitlines()
    torn = bool(data) and not data.endswith("\n")
    if torn:
        lines = lines[:-1]
    done: dict[str, str] = {}
    kept: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            item_id, text, audio = record["extra"]["id"], record["text"], record["audio"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise FlowvoxError(
                f"{manifest}:{number}: not a flowvox generate record ({err}); use a new OUT_DIR"
            ) from err
        if (out / audio).is_file() and item_id not in done:
            done[item_id] = text
            kept.append(line + "\n")
    if torn or len(kept) != len(lines):
        atomic_write_text(manifest, "".join(kept))
    return done


def _check_same_text(items: list[BulkItem], done: dict[str, str], manifest: Path) -> None:
    for item in items:
        if item.id in done and done[item.id] != item.text:
            raise FlowvoxError(
                f"{item.origin}: id {item.id} is already in {manifest} with other text "
                f"({done[item.id][:40]!r}); the source changed: use a new OUT_DIR"
            )


def _progress_bar(total_frames: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total_frames, desc="generate", unit="frame", unit_scale=True, file=sys.stderr,
        disable=not enabled, dynamic_ncols=True,
    )  # fmt: skip
