"""WER and speaker similarity per voice of a `flowvox eval run` folder (its results.json).

    python benchmarks/eval_per_voice.py runs/eval-voice-en7-8000/results.json

Per (system, speaker of the manifest line): pooled WER (errors / reference words) and the mean
resemblyzer similarity to the reference clip, printed as "WER% SIM" per system column.
"""

import collections
import json
import sys


def main() -> None:
    d = json.load(open(sys.argv[1]))
    man = {json.loads(l)["id"]: json.loads(l) for l in open(d["config"]["manifest"]) if l.strip()}
    agg = collections.defaultdict(lambda: [0, 0, 0.0, 0])
    for u in d["utterances"]:
        if u["wer"] is None:
            continue
        spk = man[u["id"]]["speaker"]
        a = agg[(u["system"], spk)]
        a[0] += u["substitutions"] + u["deletions"] + u["insertions"]
        a[1] += u["reference_words"]
        if u["sim_to_ref"] is not None:
            a[2] += u["sim_to_ref"]
            a[3] += 1
    systems = sorted({k[0] for k in agg}, key=lambda s: (s != "ground truth", s))
    spks = sorted({k[1] for k in agg})
    print("voice".ljust(28) + "".join(s.rjust(16) for s in systems))
    for spk in spks:
        row = spk.ljust(28)
        for s in systems:
            a = agg.get((s, spk))
            row += (
                f"{100 * a[0] / max(a[1], 1):5.1f}% {a[2] / max(a[3], 1):.3f}" if a else "-"
            ).rjust(16)
        print(row)


if __name__ == "__main__":
    main()
