"""Summaries of judged utterances, and the files of an eval run: JSON, markdown, PNG plots.

Summary of a system (over the utterances where a judge gave a figure):
- WER is corpus-level: Σ (S + D + I) / Σ N over all utterances (not a mean of ratios);
- similarity, MCD, F0 RMSE and duration ratio are means of the per-utterance figures;
- RTF = synthesis wall seconds / seconds of audio made (synthesis runs only).

Files (each written atomically, all after judging, so a failed run leaves none):
``results.json`` (config, summaries, every utterance), ``results.md`` (tables) and
``plots/*.png`` (matplotlib, Agg backend: per-utterance distributions; WER and RTF against
NFE when several NFE were run).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from flowvox.eval.judges import GROUND_TRUTH, UtteranceScore
from flowvox.utils.atomic import atomic_path, atomic_write_text

METRICS = ("sim_to_ref", "sim_to_gt", "mcd_db", "f0_rmse_hz", "duration_ratio")


@dataclass
class SystemSummary:
    """One system's figures (``None`` where no utterance had the judge's input)."""

    system: str
    group: str  # "all" or one manifest group
    utterances: int
    wer: float | None
    reference_words: int
    sim_to_ref: float | None
    sim_to_gt: float | None
    mcd_db: float | None
    f0_rmse_hz: float | None
    duration_ratio: float | None
    nfe: int | None = None
    rtf: float | None = None
    audio_seconds: float = 0.0


def summarize(
    scores: Sequence[UtteranceScore],
    nfe: dict[str, int] | None = None,
    rtf: dict[str, float | None] | None = None,
) -> list[SystemSummary]:
    """A summary per system in first-seen order, then per (system, group) when the items
    hold more than one group."""
    nfe, rtf = nfe or {}, rtf or {}
    systems = list(dict.fromkeys(s.system for s in scores))
    groups = list(dict.fromkeys(s.group for s in scores))
    keys = [(system, "all") for system in systems]
    if len(groups) > 1:
        keys += [(system, group) for system in systems for group in groups]
    out = []
    for system, group in keys:
        mine = [s for s in scores if s.system == system and group in ("all", s.group)]
        if not mine:
            continue
        words = sum(s.reference_words for s in mine if s.wer is not None)
        errors = sum(
            s.substitutions + s.deletions + s.insertions for s in mine if s.wer is not None
        )
        means = {m: _mean([getattr(s, m) for s in mine]) for m in METRICS}
        out.append(
            SystemSummary(
                system, group, len(mine), errors / words if words else None, words, **means,
                nfe=nfe.get(system), rtf=rtf.get(system) if group == "all" else None,
                audio_seconds=sum(s.seconds for s in mine),
            )
        )  # fmt: skip
    return out


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else None


def markdown(summaries: Sequence[SystemSummary], title: str, notes: Sequence[str] = ()) -> str:
    """The results page: one table row per system (and per group), ground truth first."""
    head = "| system | group | utts | WER | SIM ref | SIM GT | MCD dB | F0 RMSE Hz | dur. | RTF |"
    rows = [f"# {title}", "", *notes, *([""] if notes else []), head, "|---" * 10 + "|"]
    groups = list(dict.fromkeys(s.group for s in summaries))  # "all" first, as summarize
    ordered = sorted(summaries, key=lambda s: (groups.index(s.group), s.system != GROUND_TRUTH))
    for s in ordered:
        cells = [
            s.system, s.group, str(s.utterances), _pct(s.wer), _num(s.sim_to_ref, 3),
            _num(s.sim_to_gt, 3), _num(s.mcd_db, 2), _num(s.f0_rmse_hz, 1),
            _num(s.duration_ratio, 2), _num(s.rtf, 3),
        ]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    rows += [
        "",
        "WER: corpus-level (total errors / total reference words, text normalised). SIM: "
        "resemblyzer cosine to the reference clip / to the ground truth. MCD and F0 RMSE: "
        "against the ground truth after DTW (10 ms frames, c1..cD of a log-mel DCT). "
        "dur. ratio: generated / ground-truth seconds. RTF: synthesis seconds / audio seconds. "
        "'-': no utterance had what the judge needs.",
        "",
    ]
    return "\n".join(rows)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_results(
    out_dir: str | os.PathLike,
    scores: Sequence[UtteranceScore],
    summaries: Sequence[SystemSummary],
    config: dict,
    title: str,
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write results.json, results.md and the plots into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    record = _finite(
        {
            "config": config,
            "summary": [asdict(s) for s in summaries],
            "utterances": [asdict(s) for s in scores],
        }
    )
    written = [out / "results.json", out / "results.md"]
    atomic_write_text(written[0], json.dumps(record, indent=1, allow_nan=False, default=str))
    atomic_write_text(written[1], markdown(summaries, title, notes))
    return written + write_plots(out / "plots", scores, summaries)


def _finite(value):
    """The record with NaN/inf floats as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_plots(
    folder: Path, scores: Sequence[UtteranceScore], summaries: Sequence[SystemSummary]
) -> list[Path]:
    """Per-utterance distributions per system; WER and RTF against NFE (two or more NFE)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    paths = []
    systems = list(dict.fromkeys(s.system for s in scores))
    shown = [(m, label) for m, label in _LABELS if any(getattr(s, m) is not None for s in scores)]
    if shown:
        cols = min(3, len(shown))
        rows = -(-len(shown) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.4 * rows), squeeze=False)
        for ax in axes.flat[len(shown) :]:
            ax.set_visible(False)
        for ax, (metric, label) in zip(axes.flat, shown, strict=False):
            data = [[getattr(s, metric) for s in scores if s.system == n] for n in systems]
            data = [[v for v in d if v is not None and math.isfinite(v)] for d in data]
            kept = [(n, d) for n, d in zip(systems, data, strict=True) if d]
            ax.boxplot([d for _, d in kept], tick_labels=[n for n, _ in kept])
            ax.set_title(label, fontsize=9)
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        fig.tight_layout()
        paths.append(_save(fig, folder / "per_utterance.png"))
        plt.close(fig)
    runs = sorted((s for s in summaries if s.nfe is not None and s.group == "all"), key=_nfe)
    if len(runs) >= 2:
        truth = next((s for s in summaries if s.system == GROUND_TRUTH and s.group == "all"), None)
        for metric, label, name in (
            ("wer", "WER", "wer_vs_nfe.png"),
            ("rtf", "RTF", "rtf_vs_nfe.png"),
        ):
            points = [(s.nfe, getattr(s, metric)) for s in runs if getattr(s, metric) is not None]
            if not points:
                continue
            fig, ax = plt.subplots(figsize=(4.5, 3.4))
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label="model")
            if metric == "wer" and truth is not None and truth.wer is not None:
                ax.axhline(truth.wer, color="grey", linestyle="--", label="ground truth")
                ax.legend()
            ax.set_xscale("log", base=2)
            ax.set_xticks([p[0] for p in points], [str(p[0]) for p in points])
            ax.set_xlabel("NFE")
            ax.set_ylabel(label)
            fig.tight_layout()
            paths.append(_save(fig, folder / name))
            plt.close(fig)
    return paths


_LABELS = (
    ("wer", "WER per utterance"),
    ("sim_to_ref", "similarity to reference"),
    ("sim_to_gt", "similarity to ground truth"),
    ("mcd_db", "MCD (dB)"),
    ("f0_rmse_hz", "F0 RMSE (Hz)"),
    ("duration_ratio", "duration ratio"),
)


def _nfe(summary: SystemSummary) -> int:
    return summary.nfe or 0


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path
