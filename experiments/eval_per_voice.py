"""WER and speaker similarity per voice of a `flowvox eval run` folder (its results.json).

    python -m experiments.eval_per_voice runs/eval-voice-en7-8000/results.json

Per (system, speaker of the manifest line): pooled WER (errors / reference words) and the mean
resemblyzer similarity to the reference clip, printed as "WER% SIM" per system column.
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

from flowvox.eval.items import read_eval_items


def per_voice(results: dict) -> dict[tuple[str, str], tuple[float, float | None]]:
    """(system, speaker) -> (pooled WER, mean similarity to the reference or None)."""
    speaker = {item.id: item.speaker for item in read_eval_items(results["config"]["manifest"])}
    errors, words, sims = defaultdict(int), defaultdict(int), defaultdict(list)
    for u in results["utterances"]:
        if u["wer"] is None:
            continue
        key = (u["system"], speaker[u["id"]])
        errors[key] += u["substitutions"] + u["deletions"] + u["insertions"]
        words[key] += u["reference_words"]
        if u["sim_to_ref"] is not None:
            sims[key].append(u["sim_to_ref"])
    return {
        key: (
            errors[key] / max(1, words[key]),
            sum(sims[key]) / len(sims[key]) if sims[key] else None,
        )
        for key in words
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results.json of `flowvox eval run`")
    table = per_voice(json.loads(parser.parse_args().results.read_text()))
    systems = sorted({s for s, _ in table}, key=lambda s: (s != "ground truth", s))
    print("voice".ljust(32) + "".join(s.rjust(16) for s in systems))
    for voice in sorted({v for _, v in table}):
        cells = []
        for system in systems:
            wer, sim = table.get((system, voice), (None, None))
            cell = "-" if wer is None else f"{100 * wer:5.1f}% " + (f"{sim:.3f}" if sim else "-")
            cells.append(cell.rjust(16))
        print(voice.ljust(32) + "".join(cells))


if __name__ == "__main__":
    main()
