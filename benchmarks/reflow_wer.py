"""Reflow of the default-voice candidate: WER and similarity against NFE, and straightness,
before and after (issue 5's reflow table).

The recipe (CPU, one torch thread each; the commands are in README "Measured"):

1. pairs from the base model on a random 1,200-utterance subset of the training split,
   decoded at the inference settings, each prompted by its own first words:
       flowvox reflow pairs BASE data/prepared-en7 PAIRS --split reflow1200 --nfe 10 \\
           --cfg 0.7 --prompt-fraction 0.3
2. fine-tune the base model on them along the rectified path (``flowvox train ...
   data.reflow_pairs=PAIRS model.path=rectified init_from=BASE``);
3. ``flowvox eval run`` of both models on the same test manifest at NFE 1 2 4 8 16 32
   (Euler, CFG 0.7, Griffin-Lim) -> BEFORE_EVAL, AFTER_EVAL;
4. this script: the table from both ``results.json``, and the straightness
   S = E ∫ ||(x_1 - x_0) - v(x_t, t)||² dt of both decoders on held-out utterances
   (MAS durations of their real mels, no prompt, Euler, ``--nfe`` steps, CFG 0.7).

    python benchmarks/reflow_wer.py --before-eval runs/eval-a --after-eval runs/eval-b \\
        --before-model BASE --after-model REFLOWED --prepared data/prepared-en7 --publish
"""
# n: frames, f: mel bins

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flowvox.data.dataset import MelDataset  # noqa: E402
from flowvox.eval.judges import GROUND_TRUTH  # noqa: E402
from flowvox.models.aligned_inputs import text_encoder_for  # noqa: E402
from flowvox.models.aligned_reflow import aligned_straightness  # noqa: E402
from flowvox.models.aligned_task import load_aligned_model  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "reflow_wer.md"


def summaries(eval_dir: Path, group: str) -> dict[str, dict]:
    """system name -> summary row of ``group`` ("all" or a manifest group)."""
    data = json.loads((eval_dir / "results.json").read_text())
    return {s["system"]: s for s in data["summary"] if s["group"] == group}


def straightness(model_dir: Path, prepared: Path, count: int, nfe: int, cfg: float) -> float:
    loaded = load_aligned_model(model_dir)
    dataset = MelDataset.from_prepared(prepared, "test", loaded.config.mel)
    encode = text_encoder_for(loaded.tokenizer)
    rows = range(min(count, len(dataset)))
    texts = [encode.encode(dataset.entries[i].text) for i in rows]
    mels = [dataset.load_mel(i) for i in rows]  # each (n, f)
    with torch.no_grad():
        result = aligned_straightness(loaded.model, texts, mels, nfe=nfe, cfg=cfg, seed=0)
    return float(result.mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-eval", type=Path, required=True)
    parser.add_argument("--after-eval", type=Path, required=True)
    parser.add_argument("--before-model", type=Path, required=True)
    parser.add_argument("--after-model", type=Path, required=True)
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--groups", nargs="+", default=["seen", "librivox"])
    parser.add_argument("--utterances", type=int, default=24, help="for the straightness")
    parser.add_argument("--nfe", type=int, default=16, help="for the straightness")
    parser.add_argument("--cfg", type=float, default=0.7)
    parser.add_argument("--publish", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()
    torch.set_num_threads(1)

    s_before = straightness(args.before_model, args.prepared, args.utterances, args.nfe, args.cfg)
    s_after = straightness(args.after_model, args.prepared, args.utterances, args.nfe, args.cfg)
    config = json.loads((args.before_eval / "results.json").read_text())["config"]
    lines = [
        "# Reflow of the default-voice candidate: WER against NFE, before and after",
        "",
        f"Produced by `python benchmarks/reflow_wer.py` (recipe in its docstring). CPU: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores.",
        "",
        f"- base model `{args.before_model}`; reflowed `{args.after_model}`",
        f"- test manifest `{config['manifest']}`; Euler, CFG {config['cfg']}, seed "
        f"{config['seed']}, vocoder {config['vocoder']}; judges: {config['judges']['asr']} WER, "
        "resemblyzer similarity to the reference clip",
        f"- straightness S (per element; {args.utterances} held-out utterances, MAS durations, "
        f"no prompt, Euler {args.nfe} steps, CFG {args.cfg}): **{s_before:.4f} before, "
        f"{s_after:.4f} after**",
        "",
    ]
    for group in args.groups:
        before = summaries(args.before_eval, group)
        after = summaries(args.after_eval, group)
        nfes = sorted(s["nfe"] for s in before.values() if s.get("nfe"))
        gt = before.get(GROUND_TRUTH)
        lines += [
            f"## {group} ({gt['utterances'] if gt else '?'} utterances)",
            "",
            "| NFE | WER before | WER after | SIM before | SIM after | RTF before | RTF after |",
            "|---|---|---|---|---|---|---|",
        ]
        for nfe in nfes:
            b, a = before.get(f"nfe-{nfe}"), after.get(f"nfe-{nfe}")
            if b is None or a is None:
                continue
            lines.append(
                f"| {nfe} | {b['wer']:.1%} | {a['wer']:.1%} | {b['sim_to_ref']:.3f} | "
                f"{a['sim_to_ref']:.3f} | {b['rtf'] or float('nan'):.3f} | "
                f"{a['rtf'] or float('nan'):.3f} |"
            )
        if gt:
            lines.append(f"| ground truth | {gt['wer']:.1%} | | {gt['sim_to_ref']:.3f} | | | |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.publish:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
