"""Which family learns faster: WER against training time of the checkpoints of two or more runs.

Issue 5's study. Train each family on the same prepared data with the same batch, lr and
schedule for the same time (one torch thread each, side by side, so that both get the same
CPU), e.g.

    flowvox train configs/voice-en7.yaml --set out_dir=runs/ls-aligned-en7 \\
        train.time_limit_minutes=75 train.keep_checkpoints=20
    flowvox train configs/learning-speed-infill-en7.yaml --set train.time_limit_minutes=75

then judge every kept checkpoint with ``flowvox eval`` (pocketsphinx WER, resemblyzer
similarity to the reference) on the same held-out sentences, each family at its own sampling
settings:

    python -m experiments.learning_speed data/testset-en7.jsonl runs/ls-eval \\
        --run runs/ls-aligned-en7:0.7 --run runs/ls-infill-en7:2.0 --nfe 16 --group seen

The training time of a checkpoint is its ``train_seconds`` (wall time in the training loop).
Writes OUT/learning_speed.md (and experiments/results/learning_speed.md with --publish).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
from pathlib import Path

from flowvox.eval.judges import GROUND_TRUTH, JudgeConfig
from flowvox.eval.run import EvalConfig, run_eval
from flowvox.train import export_checkpoint, list_checkpoints

REPO = Path(__file__).resolve().parents[1]


def subset_manifest(manifest: Path, group: str | None, out: Path) -> Path:
    """The manifest's lines of ``extra.group`` = group (all lines for None)."""
    if group is None:
        return manifest
    lines = [line for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("extra", {}).get("group") == group]
    if not kept:
        raise SystemExit(f"{manifest}: no line of group {group!r}")
    path = out / f"manifest-{group}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def family_of(run: Path) -> str:
    config = json.loads((run / "model" / "config.json").read_text())
    return config["task"]


def judge_run(
    run: Path, cfg: float, manifest: Path, out: Path, nfe: int, gt: bool, every: int
) -> list[dict]:
    """One row per checkpoint of ``run``: step, hours, WER, similarity (and ground truth)."""
    rows = []
    checkpoints = list_checkpoints(run / "checkpoints")
    for checkpoint in checkpoints:
        step = int(checkpoint.name.split("-")[-1])
        if step % every and checkpoint != checkpoints[-1]:
            continue  # judged: every `every` steps, and the last
        state = json.loads((checkpoint / "state.json").read_text())
        model = out / "models" / run.name / checkpoint.name
        if not model.is_dir():
            export_checkpoint(checkpoint, model)
        config = EvalConfig(
            manifest=str(manifest),
            out_dir=str(out / "eval" / run.name / checkpoint.name),
            model=str(model),
            vocoder="griffin-lim",
            nfe=[nfe],
            cfg=cfg,
            ground_truth=gt and not rows,
            judges=JudgeConfig(workers=0),
            progress=False,
        )
        report = run_eval(config)
        by_name = {s.system: s for s in report.summaries if s.group == "all"}
        system = by_name[f"nfe-{nfe}"]
        row = {
            "run": run.name,
            "task": family_of(run),
            "step": state["step"],
            "hours": state.get("train_seconds", float("nan")) / 3600,
            "wer": system.wer,
            "sim": system.sim_to_ref,
            "dur": system.duration_ratio,
            "rtf": system.rtf,
        }
        if GROUND_TRUTH in by_name:
            row["gt_wer"] = by_name[GROUND_TRUTH].wer
            row["gt_sim"] = by_name[GROUND_TRUTH].sim_to_ref
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def params_of(run: Path) -> float:
    from safetensors import safe_open

    with safe_open(run / "model" / "model.safetensors", "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()) / 1e6


def write_report(rows: list[dict], runs: list[tuple[Path, float]], args, path: Path) -> None:
    gt = next((r for r in rows if "gt_wer" in r), None)
    lines = [
        "# Which family learns faster (issue 5)",
        "",
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; each run "
        "trained on one torch thread, side by side, on the same prepared data "
        "(`data/prepared-en7`, 7 engine voices, 2.46 h), same batch (2,000 padded frames), "
        "lr 5e-4 with 500 warm-up steps, linear decay over 60k steps, EMA 0.999.",
        "",
        f"Judged with `flowvox eval` on `{args.manifest}`"
        + (f" (group {args.group})" if args.group else "")
        + f": NFE {args.nfe}, Griffin-Lim vocoder, pocketsphinx WER, resemblyzer similarity "
        "to the reference clip (same voice, other sentence), seed 0.",
        "",
        "| run | task | params (M) | CFG |",
        "|---|---|---|---|",
    ]
    for run, cfg in runs:
        lines.append(f"| `{run}` | {family_of(run)} | {params_of(run):.2f} | {cfg} |")
    lines += [
        "",
        "| run | step | training time (h) | WER | SIM to reference | duration ratio |",
        "|---|---|---|---|---|---|",
    ]
    if gt is not None:
        lines.append(f"| ground truth | – | – | {gt['gt_wer']:.1%} | {gt['gt_sim']:.3f} | 1.00 |")
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['step']} | {r['hours']:.2f} | {r['wer']:.1%} | "
            f"{r['sim']:.3f} | {r['dur']:.2f} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="eval manifest (flowvox eval testset)")
    parser.add_argument("out", type=Path, help="working folder (exports, audio, judge files)")
    parser.add_argument(
        "--run", action="append", required=True, metavar="RUN_DIR:CFG",
        help="a training run folder and the CFG weight its family samples with",
    )  # fmt: skip
    parser.add_argument("--nfe", type=int, default=16)
    parser.add_argument("--every", type=int, default=1000, help="judge checkpoints of these steps")
    parser.add_argument("--group", default=None, help="judge only this manifest group")
    parser.add_argument("--publish", action="store_true", help="also write experiments/results")
    args = parser.parse_args()
    runs = [(Path(spec.rsplit(":", 1)[0]), float(spec.rsplit(":", 1)[1])) for spec in args.run]
    manifest = subset_manifest(args.manifest, args.group, args.out)
    rows = []
    for index, (run, cfg) in enumerate(runs):
        rows += judge_run(run, cfg, manifest, args.out, args.nfe, index == 0, args.every)
    write_report(rows, runs, args, args.out / "learning_speed.md")
    if args.publish:
        write_report(rows, runs, args, REPO / "experiments/results/learning_speed.md")


if __name__ == "__main__":
    main()
