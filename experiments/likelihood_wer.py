"""Does the model's likelihood flag its bad outputs? Rank correlation of log-likelihood and WER.

    python -m experiments.likelihood_wer EVAL_DIR MODEL_DIR --nfe 16 \
        --out experiments/results/likelihood_wer.md

EVAL_DIR is a `flowvox eval run --model MODEL_DIR` output folder: its generated audio at the
given NFE (``audio/nfe-N/``, with the manifest `flowvox generate` writes) and every utterance's
WER (``results.json``). Each generated utterance is scored with ``score_utterances``: log p(mel |
text) per frame under MODEL_DIR's flow decoder, mel computed from the generated audio (after
the vocoder), MAS durations, Hutchinson divergence with ``--probes`` probes. Reported:

- Spearman's ρ between nats per frame and per-utterance WER (negative: unlikely outputs are
  misheard more), with its p-value, over all utterances and per test group;
- pooled WER of the likelihood quartiles (lowest to highest);
- the filter for synthetic datasets: WER of what is kept after dropping the least likely 25 %,
  beside dropping a random 25 % (mean over 200 random draws).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from flowvox.bench.report import hardware_lines
from flowvox.eval.items import read_eval_items
from flowvox.eval.likelihood import score_utterances


def pooled_wer(rows: list[dict]) -> float:
    errors = sum(r["substitutions"] + r["deletions"] + r["insertions"] for r in rows)
    return errors / max(1, sum(r["reference_words"] for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--nfe", type=int, default=16, help="which generated set (audio/nfe-N)")
    parser.add_argument("--probes", type=int, default=4)
    parser.add_argument("--score-nfe", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    folder = args.eval_dir / "audio" / f"nfe-{args.nfe}"
    results = json.loads((args.eval_dir / "results.json").read_text())
    judged = {
        Path(u["audio"]).stem: u
        for u in results["utterances"]
        if Path(u["audio"]).parent.parent == folder.resolve() or f"nfe-{args.nfe}/" in u["audio"]
    }
    scores = score_utterances(
        args.model_dir, folder / "manifest.jsonl", "hutchinson", args.probes, args.score_nfe,
        "midpoint", progress=False,
    )  # fmt: skip
    rows = []
    for s in scores:
        u = judged.get(s.id)
        if u is not None and u["wer"] is not None:
            rows.append({**u, "nats": s.nats_per_frame})
    if len(rows) < 8:
        raise SystemExit(f"only {len(rows)} utterances joined scores and WER; need 8 or more")
    lines = [
        "# Likelihood against WER on generated speech",
        "",
        "Produced by `python -m experiments.likelihood_wer` (method in its docstring).",
        "",
        *hardware_lines(),
        f"- Model: `{args.model_dir}`; generated audio: `{folder}` (from `flowvox eval run`)",
        f"- Likelihood: Hutchinson, {args.probes} probes, midpoint, {args.score_nfe} steps; "
        "judge: pocketsphinx WER per utterance",
        f"- Utterances: {len(rows)}; run took {(time.perf_counter() - start) / 60:.1f} min",
        "",
        "| set | utterances | Spearman ρ (nats/frame vs WER) | p-value |",
        "|---|---|---|---|",
    ]
    groups = {"all": rows}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    for name, part in groups.items():
        if len(part) >= 5:
            rho, p = spearmanr([r["nats"] for r in part], [r["wer"] for r in part])
            lines.append(f"| {name} | {len(part)} | {rho:.3f} | {p:.3g} |")
    # voices differ in both likelihood and recognisability; centring both per voice asks
    # whether, within one voice, the less likely utterances are the misheard ones
    items = read_eval_items(results["config"]["manifest"])
    speaker = {item.id: item.speaker or "" for item in items}
    by_voice: dict[str, list[dict]] = {}
    for r in rows:
        by_voice.setdefault(speaker.get(r["id"], ""), []).append(r)
    centred = []  # (nats - voice mean, WER - voice mean)
    for part in (p for p in by_voice.values() if len(p) >= 3):
        mean_nats, mean_wer = np.mean([x["nats"] for x in part]), np.mean([x["wer"] for x in part])
        centred += [(r["nats"] - mean_nats, r["wer"] - mean_wer) for r in part]
    if len(centred) >= 5:
        rho, p = spearmanr([c[0] for c in centred], [c[1] for c in centred])
        lines.append(
            f"| all, within voice (both centred per voice, {len(by_voice)} voices) | "
            f"{len(centred)} | {rho:.3f} | {p:.3g} |"
        )
    ordered = sorted(rows, key=lambda r: r["nats"])
    quarters = np.array_split(np.arange(len(ordered)), 4)
    lines += ["", "| likelihood quartile | nats/frame range | pooled WER |", "|---|---|---|"]
    for q, idx in enumerate(quarters, 1):
        part = [ordered[i] for i in idx]
        span = f"{part[0]['nats']:.1f} … {part[-1]['nats']:.1f}"
        lines.append(f"| Q{q} | {span} | {100 * pooled_wer(part):.1f} % |")
    drop = len(ordered) // 4
    kept = pooled_wer(ordered[drop:])
    rng = np.random.default_rng(0)
    random_kept = np.mean(
        [pooled_wer([ordered[i] for i in rng.permutation(len(ordered))[drop:]]) for _ in range(200)]
    )
    lines += [
        "",
        f"All: {100 * pooled_wer(rows):.1f} % WER. Dropping the least likely 25 % ({drop} "
        f"utterances) keeps {100 * kept:.1f} % WER; dropping a random 25 % keeps "
        f"{100 * random_kept:.1f} % (mean of 200 draws).",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
