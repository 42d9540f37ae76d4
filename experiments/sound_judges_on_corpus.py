"""The model-free sound judges on a built sound corpus: accuracy of every attribute.

    python -m experiments.sound_judges_on_corpus CORPUS_DIR \
        --out experiments/results/sound_judges.md

Every clip of ``CORPUS_DIR/manifest.jsonl`` (built by ``flowvox corpus sounds``) is judged by
``flowvox.eval.sound.judges.judge_clip`` from its audio alone and scored against the clip's
``extra.attributes`` (the contract) with ``score``. The page gives per-attribute accuracy
over all clips, per construct (single / sequence / mixture) and per split, the build command
and seed read from the corpus (``SOUNDS.md``, ``sounds.json``), and the missed clips of each
attribute (``--misses N`` per attribute; also printed). Judging runs in ``--workers``
processes; the figures do not depend on their number.

The judges were developed on a ``--seed 1`` build; report on a build with another seed.
"""
# s: samples

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf

from flowvox.eval.sound.judges import ATTRIBUTES, judge_clip, score
from flowvox.utils.atomic import atomic_write_text

CONSTRUCTS = ("single", "sequence", "mixture")


def read_manifest(corpus: Path) -> list[dict]:
    """Manifest entries of a built sound corpus; ``SystemExit`` with one line if absent."""
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        sys.exit(f"{manifest}: not found; build one with `flowvox corpus sounds {corpus} ...`")
    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]


def judge_entry(corpus: Path, entry: dict) -> dict:
    """One clip: its estimate, truth and verdicts as a JSON-ready row."""
    wav, sr = sf.read(corpus / entry["audio"], dtype="float32")
    estimate = judge_clip(wav, sr)
    truth = entry["extra"]["attributes"]
    verdicts = {k: v for k, v in score(estimate, truth).items() if isinstance(v, bool)}
    return {
        "clip_id": entry["extra"]["clip_id"],
        "construct": entry["extra"]["construct"],
        "sources": entry["extra"]["sources"],
        "split": entry["split"],
        "truth": truth,
        "estimate": estimate.to_dict(),
        "verdicts": verdicts,
    }


def accuracy_table(rows: list[dict], groups: dict[str, list[dict]]) -> list[str]:
    """Markdown table: one row per attribute, one column per group ("right/total (%)")."""
    lines = ["| attribute | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for key in ATTRIBUTES:
        cells = []
        for members in groups.values():
            judged = [r["verdicts"][key] for r in members if key in r["verdicts"]]
            right = sum(judged)
            cells.append(
                f"{right}/{len(judged)} ({100 * right / len(judged):.0f} %)" if judged else "-"
            )
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def _brief(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "+".join(map(str, value))
    return str(value)


def miss_lines(rows: list[dict], per_attribute: int) -> list[str]:
    """Up to ``per_attribute`` missed clips of each attribute: id, construct, sources, values."""
    lines = []
    for key in ATTRIBUTES:
        missed = [r for r in rows if r["verdicts"].get(key) is False]
        if not missed or per_attribute <= 0:
            continue
        lines.append(f"- **{key}** ({len(missed)} missed)")
        for r in missed[:per_attribute]:
            lines.append(
                f"  - {r['clip_id']} {r['construct']} {'+'.join(r['sources'])}: truth "
                f"{_brief(r['truth'][key])}, judged {_brief(r['estimate'][key])}"
            )
    return lines


def build_command(corpus: Path) -> tuple[str, object]:
    """(build command from the corpus card, seed from its stamp) — "unknown" when absent."""
    card = corpus / "SOUNDS.md"
    found = re.search(r"Built with: `([^`]+)`", card.read_text()) if card.is_file() else None
    stamp = corpus / "sounds.json"
    seed = json.loads(stamp.read_text()).get("seed") if stamp.is_file() else "unknown"
    return (found.group(1) if found else "unknown"), seed


def render(corpus: Path, rows: list[dict], seconds: float, misses: int) -> str:
    command, seed = build_command(corpus)
    by_construct = {c: [r for r in rows if r["construct"] == c] for c in CONSTRUCTS}
    splits = sorted({r["split"] for r in rows})
    by_split = {s: [r for r in rows if r["split"] == s] for s in splits}
    header = {f"all ({len(rows)})": rows}
    lines = [
        "# Sound judges on a built sound corpus",
        "",
        f"`python -m experiments.sound_judges_on_corpus {corpus}` — {len(rows)} clips judged "
        f"in {seconds:.0f} s.",
        "",
        f"- corpus built with: `{command}` (seed {seed})",
        "- judges developed on a `--seed 1` build (300 clips); this page is for a build "
        "the judges were not tuned on unless its seed is 1",
        "- scoring (`judges.score`): count and order exact, pitch within 1 semitone, colour, "
        "speech, sex, fade equal, seconds within max(10 %, 0.3 s); each attribute over the "
        "clips whose truth defines it",
        "",
        "## Per construct",
        "",
        *accuracy_table(rows, header | {f"{c} ({len(m)})": m for c, m in by_construct.items()}),
        "",
        "## Per split",
        "",
        *accuracy_table(rows, header | {f"{s} ({len(m)})": m for s, m in by_split.items()}),
        "",
        f"## Misses (first {misses} of each attribute)",
        "",
        *(miss_lines(rows, misses) or ["none"]),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a folder built by `flowvox corpus sounds`")
    parser.add_argument("--out", type=Path, help="write the markdown page here")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, help="judge only the first N clips")
    parser.add_argument("--misses", type=int, default=8, help="missed clips listed per attribute")
    parser.add_argument("--rows", type=Path, help="also write every clip's row as JSON lines")
    args = parser.parse_args(argv)
    entries = read_manifest(args.corpus)[: args.limit]
    began = time.perf_counter()
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        rows = list(pool.map(judge_entry, [args.corpus] * len(entries), entries, chunksize=4))
    page = render(args.corpus, rows, time.perf_counter() - began, args.misses)
    print(page)
    if args.rows:
        atomic_write_text(args.rows, "".join(json.dumps(r) + "\n" for r in rows))
    if args.out:
        atomic_write_text(args.out, page)


if __name__ == "__main__":
    main()
