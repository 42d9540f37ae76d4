"""Evaluate a sound model on a sound corpus: generate, judge, score, compare with the truth.

For each system (steps, cfg) every selected manifest line's caption is generated at the
clip's duration with seed ``seed + i`` (i the line's index in the manifest, so systems and
reruns are comparable), written to ``out_dir/<system>/<i:06d>.wav`` and judged
(``judges.judge_clip``); the ground-truth clips are judged once as the "ground truth"
system. Per system and split (and over all selected lines, "all"):

    accuracy[a] = (clips judged right on attribute a) / (clips whose truth defines a)
    FD          = Fréchet distance (``frechet``) of the system's clips to the truth clips
    RTF         = generation compute seconds / generated audio seconds

Results go to ``out_dir/results.json`` and ``out_dir/results.md`` (rows = systems, columns
= attributes + FD + RTF). A rerun keeps every wav already there (the compute time of the
run that made them is kept in ``<system>/timing.json``) and generates only what is missing.

    python -m flowvox.eval.sound.run MODEL_DIR MANIFEST OUT_DIR --steps 1 10 --cfg 1 3
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from flowvox.audio.io import load_audio, save_audio
from flowvox.data.manifest import ManifestEntry, read_manifest
from flowvox.errors import FlowvoxError
from flowvox.eval.sound.copy_synthesis import COPY_FOLDERS, COPY_VAE, copy_synthesise
from flowvox.eval.sound.frechet import embed_clips, frechet_distance
from flowvox.eval.sound.judges import ATTRIBUTES, AttributeAccuracy, attribute_accuracy, judge_clip
from flowvox.infer.sound import SoundGenerator, check_sampling
from flowvox.utils.atomic import atomic_write_text

GROUND_TRUTH = "ground truth"
ALL = "all"
RESULTS_JSON, RESULTS_MD, TIMING = "results.json", "results.md", "timing.json"


@dataclass(frozen=True)
class Line:
    """One selected manifest line: its index in the manifest and its entry."""

    index: int
    entry: ManifestEntry

    @property
    def seconds(self) -> float:
        if self.entry.duration is not None:
            return float(self.entry.duration)
        return sf.info(self.entry.audio).duration


@dataclass(frozen=True)
class SystemResult:
    """One system's figures; ``accuracy[split][attribute]`` with split "all" over every line.
    Ground truth has no steps, cfg, FD or RTF."""

    name: str
    steps: int | None
    cfg: float | None
    clips: int
    accuracy: dict[str, dict[str, AttributeAccuracy]]
    fd: float | None = None
    rtf: float | None = None
    folder: str | None = None  # where its wavs are (relative to out_dir)
    mel_l1: float | None = None  # the VAE's reconstruction error (copy synthesis through it)


@dataclass(frozen=True)
class SoundEvalReport:
    """What ``evaluate_sound_model`` wrote: the results files and every system's figures."""

    out_dir: Path
    results_json: Path
    results_md: Path
    systems: list[SystemResult] = field(default_factory=list)

    def system(self, name: str) -> SystemResult:
        return next(s for s in self.systems if s.name == name)


def system_name(steps: int, cfg: float) -> str:
    """'steps10_cfg3': the system's name and folder."""
    return f"steps{steps}_cfg{cfg:g}"


def select_lines(manifest: Path, splits: Sequence[str], limit: int | None) -> list[Line]:
    """The manifest lines in ``splits`` (manifest order), the first ``limit`` of them."""
    if not Path(manifest).is_file():
        raise FlowvoxError(f"{manifest}: no such manifest; build one with `flowvox corpus sounds`")
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise FlowvoxError(f"limit={limit}: give at least 1 line (or no limit)")
    entries = read_manifest(manifest)
    lines = [Line(i, e) for i, e in enumerate(entries) if e.split in splits]
    if not lines:
        found = sorted({e.split for e in entries})
        raise FlowvoxError(
            f"{manifest}: no lines in splits {list(splits)} (it has {found}); pick other splits"
        )
    for line in lines:
        if not isinstance(line.entry.extra.get("attributes"), dict):
            raise FlowvoxError(
                f"{manifest}: line {line.index + 1} has no extra.attributes; evaluate on a "
                "sound corpus manifest (`flowvox corpus sounds`)"
            )
    return lines[:limit]


def _check_systems(steps: Sequence[int], cfgs: Sequence[float], batch_size: int) -> None:
    if not steps or not cfgs:
        raise FlowvoxError("give at least one steps value and one cfg value")
    for s in steps:
        check_sampling(None, s, 1.0)
    for c in cfgs:
        check_sampling(None, 1, c)
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise FlowvoxError(f"batch_size={batch_size}: give at least 1")


class _LazyGenerator:
    """The model, loaded the first time a wav is missing (a full rerun never loads it)."""

    def __init__(self, model_dir: Path, device: str) -> None:
        self.model_dir, self.device, self._gen = model_dir, device, None

    def get(self) -> SoundGenerator:
        if self._gen is None:
            self._gen = SoundGenerator.from_pretrained(self.model_dir, self.device)
        return self._gen


def _generate_missing(
    gen: _LazyGenerator,
    lines: list[Line],
    folder: Path,
    steps: int,
    cfg: float,
    seed: int,
    batch_size: int,
) -> None:
    """Write ``folder/<i>.wav`` for lines without one, in batches of equal length; add the
    compute and audio seconds to ``folder/timing.json``."""
    todo = [ln for ln in lines if not (folder / f"{ln.index:06d}.wav").is_file()]
    by_length: dict[float, list[Line]] = {}
    for ln in todo:
        by_length.setdefault(ln.seconds, []).append(ln)
    timing = _read_timing(folder)
    for seconds, group in sorted(by_length.items()):
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            sounds = gen.get().generate_batch(
                [ln.entry.text for ln in batch], seconds, steps, cfg,
                seeds=[seed + ln.index for ln in batch],
            )  # fmt: skip
            for ln, sound in zip(batch, sounds, strict=True):
                save_audio(folder / f"{ln.index:06d}.wav", sound.wav, sound.sample_rate, "FLOAT")
            timing["compute_seconds"] += sounds[0].times.total
            timing["audio_seconds"] += sum(s.seconds for s in sounds)
            atomic_write_text(folder / TIMING, json.dumps(timing))


def _read_timing(folder: Path) -> dict[str, float]:
    path = folder / TIMING
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return {k: float(data.get(k, 0.0)) for k in ("compute_seconds", "audio_seconds")}
    return {"compute_seconds": 0.0, "audio_seconds": 0.0}


def _accuracy(
    lines: list[Line], estimates: list, splits: Sequence[str]
) -> dict[str, dict[str, AttributeAccuracy]]:
    """Accuracy per split present and over all lines."""
    pairs = [(e, ln.entry.extra["attributes"]) for ln, e in zip(lines, estimates, strict=True)]
    out = {ALL: attribute_accuracy(pairs)}
    for split in splits:
        chosen = [p for ln, p in zip(lines, pairs, strict=True) if ln.entry.split == split]
        if chosen:
            out[split] = attribute_accuracy(chosen)
    return out


def _fd(clips: list[np.ndarray], sample_rate: int, truth: np.ndarray) -> float | None:
    """FD of clips to the truth embeddings; None when either set has fewer than 2 clips."""
    if len(clips) < 2 or len(truth) < 2:
        return None
    return frechet_distance(embed_clips(clips, sample_rate), truth)


def evaluate_sound_model(
    model_dir: str | Path,
    manifest: str | Path,
    out_dir: str | Path,
    steps: Sequence[int] = (10,),
    cfgs: Sequence[float] = (3.0,),
    splits: Sequence[str] = ("test", "test_unseen"),
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
    device: str = "cpu",
    copy: bool = True,
) -> SoundEvalReport:
    """Generate, judge and score every (steps, cfg) system against the ground truth (see the
    module docstring); with ``copy`` also the ground truth copied through the vocoder and
    through VAE + vocoder (``copy_synthesis``). Bad input raises a one-line
    ``FlowvoxError`` before anything is written."""
    _check_systems(steps, cfgs, batch_size)
    lines = select_lines(Path(manifest), splits, limit)
    model_dir, out = Path(model_dir), Path(out_dir)
    if not model_dir.is_dir():
        raise FlowvoxError(f"sound model {str(model_dir)!r}: no such folder; pass a model folder")
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"{out}: is a file; give a folder for the evaluation")

    truth_clips = [load_audio(ln.entry.audio) for ln in lines]
    truth_estimates = [judge_clip(c.wav, c.sample_rate) for c in truth_clips]
    truth_embed = np.concatenate(
        [embed_clips([c.wav], c.sample_rate) for c in truth_clips]
    )  # (c, 128): clips may differ in rate
    systems = [
        SystemResult(
            GROUND_TRUTH, None, None, len(lines), _accuracy(lines, truth_estimates, splits)
        )
    ]
    gen = _LazyGenerator(model_dir, device)

    def judged(folder: Path) -> tuple[dict, float | None]:
        """Accuracy and FD of the wavs in ``folder`` (one per line)."""
        clips = [load_audio(folder / f"{ln.index:06d}.wav") for ln in lines]
        estimates = [judge_clip(x.wav, x.sample_rate) for x in clips]
        fd = _fd([x.wav for x in clips], clips[0].sample_rate, truth_embed)
        return _accuracy(lines, estimates, splits), fd

    if copy:
        sources = {ln.index: Path(ln.entry.audio) for ln in lines}
        for name, sub in COPY_FOLDERS.items():
            l1 = copy_synthesise(gen.get(), sources, out / sub, through_vae=name == COPY_VAE)
            accuracy, fd = judged(out / sub)
            systems.append(SystemResult(name, None, None, len(lines), accuracy, fd, None, sub, l1))
    for s in steps:
        for c in cfgs:
            name = system_name(int(s), float(c))
            folder = out / name
            _generate_missing(gen, lines, folder, int(s), float(c), seed, batch_size)
            accuracy, fd = judged(folder)
            timing = _read_timing(folder)
            rtf = (
                timing["compute_seconds"] / timing["audio_seconds"]
                if timing["audio_seconds"]
                else None
            )
            systems.append(
                SystemResult(name, int(s), float(c), len(lines), accuracy, fd, rtf, name)
            )

    report = SoundEvalReport(out, out / RESULTS_JSON, out / RESULTS_MD, systems)
    meta = {
        "model_dir": str(model_dir), "manifest": str(manifest), "splits": list(splits),
        "limit": limit, "seed": seed, "lines": len(lines),
    }  # fmt: skip
    atomic_write_text(report.results_json, json.dumps(_to_json(meta, systems), indent=2) + "\n")
    atomic_write_text(report.results_md, render_markdown(meta, systems))
    return report


def _to_json(meta: dict, systems: list[SystemResult]) -> dict:
    rows = []
    for s in systems:
        row = asdict(s)
        row["accuracy"] = {
            split: {a: asdict(v) for a, v in table.items()} for split, table in s.accuracy.items()
        }
        rows.append(row)
    return {**meta, "systems": rows}


def _cell(value: float | None, digits: int) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def render_markdown(meta: dict, systems: list[SystemResult]) -> str:
    """A table per split ("all" first): rows = systems, columns = attributes + FD + RTF."""
    lines = [
        "# Sound model evaluation",
        "",
        f"model `{meta['model_dir']}`, manifest `{meta['manifest']}`, splits "
        f"{', '.join(meta['splits'])}, {meta['lines']} clips, seed {meta['seed']}.",
        "Attribute cells: share of clips judged right (judges.judge_clip); FD against the "
        "ground-truth clips; RTF = compute s / audio s; mel L1: the VAE's log-mel "
        "reconstruction error (copy synthesis).",
    ]
    with_l1 = any(s.mel_l1 is not None for s in systems)
    for split in [ALL, *meta["splits"]]:
        if split not in systems[0].accuracy:
            continue
        present = [a for a in ATTRIBUTES if a in systems[0].accuracy[split]]
        lines += ["", f"## {split}", ""]
        extra = ["FD", "RTF", "mel L1"] if with_l1 else ["FD", "RTF"]
        lines.append("| system | " + " | ".join([*present, *extra]) + " |")
        lines.append("|---" * (len(present) + len(extra) + 1) + "|")
        for s in systems:
            table = s.accuracy.get(split, {})
            cells = [_cell(table[a].accuracy, 2) if a in table else "—" for a in present]
            cells += [_cell(s.fd, 2), _cell(s.rtf, 3)] + ([_cell(s.mel_l1, 3)] if with_l1 else [])
            lines.append(f"| {s.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
