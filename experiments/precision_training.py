"""fp32 against bf16 autocast training of one run file, side by side on this CPU.

    python -m experiments.precision_training configs/voice-en7.yaml --steps 600 \\
        --work /tmp/precision --out experiments/results/bf16_training_voice_en7.md

Two ``flowvox train`` processes start together, one thread each, from the same run file, seed
and data: ``train.mixed_precision`` "no" (float32) and "bf16" (autocast; weights, gradients
and optimiser state stay float32). Both use ``--steps`` as ``train.max_steps`` and
``--warmup`` warm-up steps, log every 50 steps and skip media. The report gives, per window of
steps, each side's mean of every ``loss/*`` scalar and of ``train/frames_per_s`` (the trainer's
own training-frames rate), and the bf16/fp32 ratios over the second half of the run. A side
whose folder already holds its exported model at ``--steps`` is not trained again (delete
WORK to start over).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from experiments.training_log_summary import read_run

SIDES = {"fp32": "no", "bf16": "bf16"}


def trained(folder: Path, steps: int) -> bool:
    config = folder / "model" / "config.json"
    return config.is_file() and json.loads(config.read_text())["train"]["max_steps"] == steps


def train_both(args: argparse.Namespace) -> None:
    """Start the sides still to train, together, and wait for both."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    jobs = []
    for name, precision in SIDES.items():
        folder = args.work / name
        if trained(folder, args.steps):
            print(f"{name}: {folder} already trained to step {args.steps}")
            continue
        overrides = [
            f"out_dir={folder}", f"train.max_steps={args.steps}",
            f"train.warmup_steps={args.warmup}", f"train.mixed_precision={precision}",
            f"train.checkpoint_every={args.steps}", "train.media_every=0",
            "train.progress_bar=false", "train.log_every=50", "train.tensorboard=true",
        ]  # fmt: skip
        command = [sys.executable, "-m", "flowvox", "train", str(args.config), "--set", *overrides]
        log = (args.work / f"{name}.log").open("w")
        print(f"{name}: training {args.steps} steps in {folder}", flush=True)
        jobs.append(
            (name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
        )
    for name, job in jobs:
        if job.wait() != 0:
            raise SystemExit(f"{name}: flowvox train failed; see {args.work / name}.log")


def window_means(series: dict[int, float], steps: list[int]) -> list[float | None]:
    """Mean of the values logged in each window (prev_end, end] of ``steps``."""
    means, start = [], 0
    for end in steps:
        values = [v for s, v in series.items() if start < s <= end]
        means.append(sum(values) / len(values) if values else None)
        start = end
    return means


def report(args: argparse.Namespace) -> str:
    scalars = {name: read_run(args.work / name)[0] for name in SIDES}
    tags = sorted(t for t in scalars["fp32"] if t.startswith("loss/")) + ["train/frames_per_s"]
    rows = 6
    ends = [round(args.steps * (i + 1) / rows) for i in range(rows)]
    half = [args.steps // 2, args.steps]
    lines = [
        f"# fp32 vs bf16 autocast training: `{args.config}`",
        "",
        f"Written by `python -m experiments.precision_training {args.config} --steps {args.steps} "
        f"--warmup {args.warmup}`. Two `flowvox train` processes side by side, one thread each, "
        "same run file, seed and batches; `train.mixed_precision` no vs bf16.",
        "",
        "| steps up to | " + " | ".join(f"{t} fp32 | {t} bf16" for t in tags) + " |",
        "|---|" + "---|---|" * len(tags),
    ]
    columns = {(t, n): window_means(scalars[n].get(t, {}), ends) for t in tags for n in SIDES}
    for i, end in enumerate(ends):
        cells = []
        for t in tags:
            for n in SIDES:
                value = columns[t, n][i]
                cells.append("–" if value is None else f"{value:.4g}")
        lines.append(f"| {end} | " + " | ".join(cells) + " |")
    lines += ["", f"bf16 / fp32 over steps {half[0] + 1}–{half[1]} (mean of each window):", ""]
    for t in tags:
        fp32, bf16 = (window_means(scalars[n].get(t, {}), half)[1] for n in SIDES)
        if fp32 and bf16:
            lines.append(f"- {t}: {bf16:.4g} / {fp32:.4g} = **{bf16 / fp32:.3f}**")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path, help="the run file")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("runs/precision"))
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    train_both(args)
    text = report(args)
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
