"""Key figures of training runs as markdown, read from their TensorBoard logs.

    python -m experiments.training_log_summary runs/voice-en7 runs/voice-en7-vocoder \\
        --out experiments/results/voice_en7_training.md

Per run: the steps logged, the training hours, and a table of every ``loss/*`` scalar (and
``vocoder/mel_l1`` where logged) averaged over ``--rows`` equal windows of steps, so a noisy
GAN loss reads as a trend. A resumed run writes one event file per start and repeats the
steps after its last checkpoint; the later file's values win. Hours: ``train/hours`` where the
trainer logged it, else the wall-clock span of each event file's scalars, summed over files.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_run(run: Path) -> tuple[dict[str, dict[int, float]], dict[int, float]]:
    """({tag: {step: value}}, {step: hours}) merged over the run's event files, oldest first."""
    files = sorted((run / "tensorboard").glob("events.out.tfevents.*"), key=_start_time)
    if not files:
        raise SystemExit(f"{run}: no TensorBoard event files under {run / 'tensorboard'}")
    scalars: dict[str, dict[int, float]] = defaultdict(dict)
    hours: dict[int, float] = {}
    offset = 0.0  # wall hours of the earlier files
    for path in files:
        events = EventAccumulator(str(path), size_guidance={"scalars": 0})
        events.Reload()
        tags = events.Tags()["scalars"]
        logged = {tag: events.Scalars(tag) for tag in tags}
        times = [event.wall_time for series in logged.values() for event in series]
        if not times:
            continue
        first = min(times)
        for tag, series in logged.items():
            for event in series:
                scalars[tag][event.step] = event.value
                if tag == "train/hours":
                    hours[event.step] = event.value
                elif "train/hours" not in tags:  # before the trainer logged hours
                    hours[event.step] = offset + (event.wall_time - first) / 3600
        offset += (max(times) - first) / 3600
    return scalars, hours


def _start_time(path: Path) -> int:
    return int(path.name.split(".")[3])  # events.out.tfevents.<unix time>.<host>...


def summary_table(scalars: dict[str, dict[int, float]], hours: dict[int, float], rows: int):
    """Markdown lines: step window end, hours, mean of each loss tag over the window."""
    tags = sorted(t for t in scalars if t.startswith("loss/")) + [
        t for t in ("vocoder/mel_l1", "media/frames_error") if t in scalars
    ]
    steps = sorted({s for t in tags for s in scalars[t]})
    if not steps:
        return ["(no loss scalars logged)"]
    last = steps[-1]
    edges = [round(last * k / rows) for k in range(rows + 1)]
    lines = [
        "| steps | hours | " + " | ".join(tags) + " |",
        "|---" * (len(tags) + 2) + "|",
    ]
    for low, high in zip(edges, edges[1:], strict=False):
        cells = []
        for tag in tags:
            values = [v for s, v in scalars[tag].items() if low < s <= high]
            cells.append(f"{sum(values) / len(values):.4g}" if values else "–")
        at = [h for s, h in hours.items() if s <= high]
        cells.insert(0, f"{max(at):.2f}" if at else "–")
        lines.append(f"| {low + 1}–{high} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (out_dir)")
    parser.add_argument("--rows", type=int, default=10, help="step windows per table")
    parser.add_argument("--out", type=Path, help="markdown file to write")
    args = parser.parse_args()
    report = [
        "# Training logs: key figures",
        "",
        f"Written by `python -m experiments.training_log_summary {' '.join(map(str, args.runs))}`."
        " Each cell is the mean of the logged values (every `train.log_every` steps) in its "
        "window of steps; hours are training hours at the window's end (`train/hours`, or the "
        "wall-clock span of the event files for runs from before that scalar existed).",
    ]
    for run in args.runs:
        scalars, hours = read_run(run)
        report += ["", f"## {run}", ""] + summary_table(scalars, hours, args.rows)
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
