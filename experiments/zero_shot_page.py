"""The page of experiments/zero_shot_study.py: figures per model and prompt set, the issue's
targets, and the two tables (resemblyzer with targets; mean mel-cepstra without)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SIM_TARGET = {"unseen": 0.80, "librivox": 0.80, "seen": 0.85}  # output vs prompt, at least
MARGIN_TARGET = 0.05  # unseen and librivox: SIM − closest training voice, at least
WER_RELATIVE = 1.10  # seen: WER at most this times the baseline's


@dataclass
class SetFigures:
    """One model on one prompt set: means over its n utterances (None: nothing to measure).
    sim/closest/out_to_voice: resemblyzer cosines; mfcc_*: the mean mel-cepstrum cosine."""

    model: str
    kind: str  # "aligned, d-vector"
    baseline: bool
    prompt_set: str  # unseen, librivox, seen
    n: int
    wer: float | None  # corpus-level
    gt_wer: float | None  # the same judge on the recordings of the set
    sim: float | None  # output vs its prompt
    gt_sim: float | None  # recording vs its prompt
    closest: float | None  # prompt vs its closest training voice
    out_to_voice: float | None  # output vs its closest training voice
    mfcc_sim: float | None
    mfcc_gt_sim: float | None
    mfcc_closest: float | None

    @property
    def margin(self) -> float | None:
        return None if self.sim is None or self.closest is None else self.sim - self.closest

    @property
    def mfcc_margin(self) -> float | None:
        if self.mfcc_sim is None or self.mfcc_closest is None:
            return None
        return self.mfcc_sim - self.mfcc_closest


def sim_verdict(row: SetFigures) -> str:
    """'pass' / 'fail' against SIM_TARGET of the row's set ('n/a' without a SIM)."""
    target = SIM_TARGET[row.prompt_set]
    if row.sim is None:
        return f"n/a (≥ {target:.2f})"
    return f"{'pass' if row.sim >= target else 'fail'} (≥ {target:.2f})"


def second_verdict(row: SetFigures, baseline_seen_wer: float | None) -> str:
    """unseen, librivox: margin >= MARGIN_TARGET; seen: WER <= WER_RELATIVE x the baseline's."""
    if row.prompt_set != "seen":
        if row.margin is None:
            return f"n/a (margin ≥ {MARGIN_TARGET:.2f})"
        return f"{'pass' if row.margin >= MARGIN_TARGET else 'fail'} (margin ≥ {MARGIN_TARGET:.2f})"
    if row.baseline:
        return "baseline"
    if row.wer is None or baseline_seen_wer is None:
        return "n/a (WER)"
    limit = WER_RELATIVE * baseline_seen_wer
    verdict = "pass" if row.wer <= limit else "fail"
    return f"{verdict} (WER ≤ {WER_RELATIVE:.1f} × {_pct(baseline_seen_wer)})"


def render_page(rows: Sequence[SetFigures], notes: Sequence[str]) -> str:
    """The markdown page: targets, table 1 (resemblyzer, targets), table 2 (mel-cepstra)."""
    base = next((r for r in rows if r.baseline and r.prompt_set == "seen"), None)
    base_wer = base.wer if base else None
    lines = [
        "# Zero-shot voices: prompt similarity, closest training voice and WER (issue 19)",
        "",
        *notes,
        "",
        "Targets: unseen pseudo-speakers and LibriVox prompts: SIM ≥ 0.80 and margin "
        "(SIM − closest training voice) ≥ 0.05; seen voices: SIM ≥ 0.85 and WER ≤ 1.1 × the "
        "baseline's (the bundled voice) on the same items.",
        "",
        "## Table 1: resemblyzer similarity and WER",
        "",
        "| model | kind | prompt set | n | WER | GT WER | SIM | GT SIM | closest voice | "
        "margin | out→voice | SIM target | margin / WER target |",
        "|---" * 13 + "|",
    ]
    for r in rows:
        cells = [
            r.model, r.kind, r.prompt_set, str(r.n), _pct(r.wer), _pct(r.gt_wer),
            _num(r.sim), _num(r.gt_sim), _num(r.closest), _signed(r.margin),
            _num(r.out_to_voice), sim_verdict(r), second_verdict(r, base_wer),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "n: utterances made; WER corpus-level (pocketsphinx), GT: the same judge on the "
        "recordings (LibriVox: the five clips; its held-out sentences have none). SIM: output "
        "vs its prompt; GT SIM: recording vs its prompt; closest voice: the prompt vs its "
        "closest training voice of that model; margin = SIM − closest voice; out→voice: "
        "output vs its closest training voice. Means over the set's utterances; '-': "
        "nothing to measure.",
        "",
        "## Table 2: without resemblyzer (mean mel-cepstrum cosine)",
        "",
        "| model | prompt set | n | SIM | GT SIM | closest voice | margin |",
        "|---" * 7 + "|",
    ]
    for r in rows:
        cells = [
            r.model, r.prompt_set, str(r.n), _num(r.mfcc_sim), _num(r.mfcc_gt_sim),
            _num(r.mfcc_closest), _signed(r.mfcc_margin),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Cosine of z-scored mean mel-cepstra c1..c24 (experiments/zero_shot_mfcc.py): an "
        "independent check of table 1's ranking, on its own scale (no target applies); "
        "GT SIM is its same-speaker level on these recordings.",
        "",
    ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"
