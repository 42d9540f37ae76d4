"""Wall time of `flowvox eval run`'s judges on N corpus utterances (no synthesis).

    python -m benchmarks.eval_judges_speed --corpus corpus --count 50 --workers 0 1
    # writes benchmarks/results/eval_judges_speed.md

The "generated" audio is the corpus's own audio (a folder of links named by id), so every
judge does its full work: WER on the generated file and on the ground truth (two decodes per
utterance), speaker embeddings of the generated file, its ground truth and its reference,
MCD and F0 RMSE after DTW. Utterances: the first ``count`` lines of the standard test set
(``flowvox eval testset``, held-out sentences of every voice, LibriVox left out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import soundfile as sf

from flowvox.eval.judges import JudgeConfig
from flowvox.eval.run import EvalConfig, run_eval
from flowvox.eval.testset import EvalSetConfig, build_testset
from flowvox.utils.atomic import atomic_write_text

RESULTS = Path(__file__).parent / "results" / "eval_judges_speed.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="corpus", help="a built corpus folder")
    parser.add_argument("--count", type=int, default=50, help="utterances to judge")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1], help="ASR workers")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="a line about the machine's other load")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        full = work / "full.jsonl"
        build_testset(EvalSetConfig(args.corpus, str(full), librivox=False, per_voice=None))
        lines = full.read_text().splitlines()[: args.count]
        manifest = work / "test.jsonl"
        manifest.write_text("\n".join(lines) + "\n")
        gen = work / "gen"
        gen.mkdir()
        seconds = 0.0
        for line in lines:
            record = json.loads(line)
            os.symlink(record["audio"], gen / f"{record['id']}.wav")
            seconds += sf.info(record["audio"]).duration
        for workers in args.workers:
            config = EvalConfig(
                str(manifest), str(work / f"out-{workers}"), audio_dir=str(gen),
                judges=JudgeConfig(workers=workers), progress=False,
            )  # fmt: skip
            start = time.perf_counter()
            report = run_eval(config)
            wall = time.perf_counter() - start
            rows.append((workers, wall, report.judge_seconds, report))
            print(
                f"workers {workers}: {wall:.0f} s wall in all, judges {report.judge_seconds:.0f} s"
            )
    first = rows[0][3]
    wer = {s.system: s.wer for s in first.summaries if s.group == "all"}
    text = [
        "# `flowvox eval run` judge speed",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), CPU "
        f"only. {args.note}",
        f"Command: `python -m benchmarks.eval_judges_speed --corpus {args.corpus} --count "
        f"{args.count} --workers {' '.join(map(str, args.workers))}`.",
        "",
        f"{len(lines)} utterances, {seconds:.0f} s of audio, judged as 'generated' (links to the "
        "ground truth) and as ground truth: 2 pocketsphinx decodes per utterance, resemblyzer "
        "embeddings, MCD + F0 RMSE with DTW.",
        "",
        "| ASR worker processes | wall, whole run (s) | judges (s) | per utterance (s) |",
        "|---|---|---|---|",
        *[
            f"| {w} | {wall:.0f} | {judge:.0f} | {judge / len(lines):.2f} |"
            for w, wall, judge, _ in rows
        ],
        "",
        "Workers 0: everything in the calling process. Workers N: N processes decode while the "
        "calling process computes the speaker and acoustic judges. Whole-run wall time includes "
        "loading the judges (pocketsphinx, resemblyzer) and numba compilation of librosa's DTW "
        "and YIN (several seconds on first use).",
        "",
        f"Sanity: WER of the links {100 * (wer.get('gen') or 0):.1f} % = WER of the ground truth "
        f"{100 * (wer.get('ground truth') or 0):.1f} % (same files, same judge).",
        "",
    ]
    atomic_write_text(args.out, "\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
