"""Reflow of the default-voice candidate: WER and similarity against NFE, and straightness,
before and after (issue 5's reflow table).

The recipe run for experiments/results/reflow_wer.md (CPU, one torch thread each):

1. a random 1,200-utterance subset of the training split (``random.Random(0).shuffle`` of
   the lines of data/prepared-en7/train.jsonl, the first 1,200 -> ``reflow1200.jsonl``);
   pairs from the base model, decoded at the inference settings, each prompted by its own
   first words (23 min):
       flowvox reflow pairs runs/voice-en7-step8000 data/prepared-en7 data/reflow-en7-s8000 \\
           --split reflow1200 --nfe 10 --cfg 0.7 --prompt-fraction 0.3
2. fine-tune the base model on them along the rectified path (1,000 steps, 0.51 h):
       flowvox train configs/voice-en7.yaml --set out_dir=runs/voice-en7-reflow \\
           init_from=runs/voice-en7-step8000 data.reflow_pairs=data/reflow-en7-s8000 \\
           model.path=rectified train.max_steps=1000 train.lr=2e-4 train.warmup_steps=50 \\
           train.ema_decay=0.995 train.checkpoint_every=250 train.media_every=0
3. ``flowvox eval run data/testset-en7.jsonl OUT --vocoder griffin-lim --workers 0 --nfe ...``
   of the base model at CFG 0.7, and of the reflowed one at CFG 0.7 and at CFG 0 (its pairs
   were made with guidance, so guidance is already in its velocity);
4. this script: the table from every ``results.json``, and the straightness
   S = E ∫ ||(x_1 - x_0) - v(x_t, t)||² dt of each decoder on held-out utterances
   (MAS durations of their real mels, no prompt, Euler, ``--nfe`` steps, its CFG).

    python -m experiments.reflow_wer --system base=runs/eval-a --system reflow=runs/eval-b \\
        --straightness base=BASE:0.7 --straightness reflow=REFLOWED:0 \\
        --prepared data/prepared-en7 --publish
"""
# n: frames, f: mel bins

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

from flowvox.data.dataset import MelDataset
from flowvox.eval.judges import GROUND_TRUTH
from flowvox.models.aligned.inputs import text_encoder_for
from flowvox.models.aligned.load import load_aligned_model
from flowvox.models.aligned.reflow import aligned_straightness

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "experiments" / "results" / "reflow_wer.md"


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


def parse_pair(spec: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep:
        raise SystemExit(f"{spec!r}: expected NAME=VALUE")
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--system", action="append", required=True, metavar="NAME=EVAL_DIR",
        help="a column: a `flowvox eval run` folder (the first one gives the ground truth)",
    )  # fmt: skip
    parser.add_argument(
        "--straightness", action="append", default=[], metavar="NAME=MODEL_DIR:CFG",
        help="an aligned model whose straightness to measure, at that CFG weight",
    )  # fmt: skip
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--groups", nargs="+", default=["seen", "librivox"])
    parser.add_argument("--utterances", type=int, default=24, help="for the straightness")
    parser.add_argument("--nfe", type=int, default=16, help="for the straightness")
    parser.add_argument("--publish", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()
    torch.set_num_threads(1)

    systems = [(name, Path(folder)) for name, folder in map(parse_pair, args.system)]
    lines = [
        "# Reflow of the default-voice candidate: WER against NFE, before and after",
        "",
        f"Produced by `python -m experiments.reflow_wer` (recipe in its docstring). CPU: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores.",
        "",
    ]
    for name, folder in systems:
        config = json.loads((folder / "results.json").read_text())["config"]
        lines.append(
            f"- **{name}**: model `{config['model']}`, CFG {config['cfg']}, Euler, seed "
            f"{config['seed']}, vocoder {config['vocoder']}, manifest `{config['manifest']}`"
        )
    lines.append(
        "- judges: pocketsphinx WER; SIM = resemblyzer similarity to the reference clip; RTF "
        "measured during the eval on a shared machine (relative figures only)"
    )
    for name, spec in map(parse_pair, args.straightness):
        model, _, cfg = spec.rpartition(":")
        value = straightness(Path(model), args.prepared, args.utterances, args.nfe, float(cfg))
        lines.append(
            f"- straightness S of **{name}** (per element; {args.utterances} held-out "
            f"utterances, MAS durations, no prompt, Euler {args.nfe} steps, CFG {cfg}): "
            f"**{value:.4f}**"
        )
    lines.append("")
    for group in args.groups:
        tables = {name: summaries(folder, group) for name, folder in systems}
        first = tables[systems[0][0]]
        nfes = sorted({s["nfe"] for t in tables.values() for s in t.values() if s.get("nfe")})
        gt = first.get(GROUND_TRUTH)
        header = " | ".join(f"WER {n} | SIM {n}" for n, _ in systems)
        lines += [
            f"## {group} ({max(s['utterances'] for s in first.values())} utterances)",
            "",
            f"| NFE | {header} |",
            "|---|" + "---|---|" * len(systems),
        ]
        for nfe in nfes:
            cells = []
            for name, _ in systems:
                row = tables[name].get(f"nfe-{nfe}")
                cells += [f"{row['wer']:.1%}", f"{row['sim_to_ref']:.3f}"] if row else ["–", "–"]
            lines.append(f"| {nfe} | " + " | ".join(cells) + " |")
        if gt:
            blank = " | ".join(["", ""] * (len(systems) - 1))
            lines.append(f"| ground truth | {gt['wer']:.1%} | {gt['sim_to_ref']:.3f} | {blank} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.publish:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
