"""Corpus build speed: hours of audio built per minute of wall time on this machine.

    python -m benchmarks.corpus_speed --utterances 600   # writes benchmarks/results/corpus_speed.md

Builds into a temporary folder with the standard English voices and all cores, then builds
again to time a resume that has nothing left to do.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

from flowvox.data.corpus import CorpusConfig, build_corpus

RESULTS = Path(__file__).parent / "results" / "corpus_speed.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=600)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        config = CorpusConfig(out, utterances=args.utterances, workers=args.workers)
        first = build_corpus(config, progress=False)
        again = build_corpus(config, progress=False)
    lines = [
        "# Corpus build speed",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), workers {args.workers}, "
        f"standard English voices, 24 kHz. `python -m benchmarks.corpus_speed "
        f"--utterances {args.utterances}`.",
        "",
        f"- built {first.built} utterances, {first.built_hours:.3f} h of audio in "
        f"{first.wall_seconds:.1f} s: **{first.hours_per_minute:.2f} h of audio per minute**",
        f"- resume with nothing left to build: {again.wall_seconds:.1f} s "
        f"({again.skipped} skipped, {again.built} built)",
        "",
        "| engine | utterances | audio h | worker s | h per worker-minute |",
        "|---|---|---|---|---|",
    ]
    for name, speed in sorted(first.engines.items()):
        lines.append(
            f"| {name} | {speed.utterances} | {speed.audio_seconds / 3600:.3f} | "
            f"{speed.worker_seconds:.1f} | {speed.hours_per_worker_minute:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
