"""Reflow of a tiny aligned TTS model on CPU: straightness and few-step error, before and after.

    python -m experiments.aligned_reflow --utterances 60 --steps 200 --reflow-steps 200
    # prints, and writes experiments/results/aligned_reflow.md

1. builds a small flite corpus and prepares it; trains ``configs/aligned-tiny.yaml`` (OT-CFM)
   for ``--steps`` steps -> the base model;
2. ``make_reflow_pairs`` (Euler, ``--nfe`` steps, temperature 1, CFG off) on its training split;
3. fine-tunes the base model on the pairs (``model.path=rectified``) for ``--reflow-steps``;
   as a control, continues the base model on the real mels for the same number of steps;
4. for each model, on the held-out utterances (MAS durations of their real mels, CFG off):
   straightness S = E ∫ ||(x_1 - x_0) - v(x_t, t)||² dt (per element, Euler, --nfe steps), and
   the few-step error: mean squared difference per element between 1- and 2-step Euler decodes
   and the --nfe-step decode of the same noise (what a few-step sampler loses).
No vocoder and no WER: a model this small and this briefly trained does not speak.
"""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from flowvox.data import prepare_dataset
from flowvox.data.corpus import CorpusConfig, build_corpus
from flowvox.data.dataset import MelDataset
from flowvox.models.aligned.inputs import align_utterances, text_encoder_for
from flowvox.models.aligned.load import load_aligned_model
from flowvox.models.aligned.reflow import aligned_straightness, make_reflow_pairs
from flowvox.train import train_from_config

NAME = "aligned_reflow"
RESULTS = Path(__file__).parent / "results" / f"{NAME}.md"
RUN_FILE = Path(__file__).resolve().parents[1] / "configs" / "aligned-tiny.yaml"


def train(prepared: Path, out_dir: Path, steps: int, *extra: str) -> Path:
    overrides = [
        f"data.prepared={prepared}",
        f"out_dir={out_dir}",
        f"train.max_steps={steps}",
        f"train.checkpoint_every={steps}",
        "train.warmup_steps=10",
        "train.media_every=0",
        "train.tensorboard=false",
        "train.progress_bar=false",
        *extra,
    ]
    return train_from_config(RUN_FILE, overrides).export_dir


@torch.no_grad()
def measure(model_dir: Path, prepared: Path, nfe: int, count: int) -> dict[str, float]:
    loaded = load_aligned_model(model_dir)
    model = loaded.model
    items = []  # the held-out utterances first, then training ones up to count
    for split in ("test", "train"):
        if (prepared / f"{split}.jsonl").is_file():
            data = MelDataset.from_prepared(prepared, split, loaded.config.mel)
            items += [data[i] for i in range(min(count - len(items), len(data)))]
    encode = text_encoder_for(loaded.tokenizer)
    texts, mels = [encode.encode(u.text) for u in items], [u.mel for u in items]
    straight = aligned_straightness(model, texts, mels, nfe=nfe, seed=0)
    inputs = align_utterances(model, texts, mels)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(inputs.mel.shape, generator=gen)
    decode = {
        k: model.synthesize(
            inputs.ids, inputs.lengths, durations=inputs.durations, nfe=k, cfg=0.0, noise=noise
        ).mel
        for k in (1, 2, nfe)
    }
    elements = inputs.mask.sum() * inputs.mel.shape[2]
    gap = {k: float((decode[k] - decode[nfe]).square().sum() / elements) for k in (1, 2)}
    held_out = (
        len(MelDataset.from_prepared(prepared, "test"))
        if (prepared / "test.jsonl").is_file()
        else 0
    )
    return {
        "S": float(straight.mean),
        "gap1": gap[1],
        "gap2": gap[2],
        "items": len(items),
        "held_out": min(held_out, len(items)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=60)
    parser.add_argument("--voices", nargs="+", default=["flite:rms"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--reflow-steps", type=int, default=200)
    parser.add_argument("--nfe", type=int, default=10)
    parser.add_argument("--eval-items", type=int, default=8)
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the models already in --work again"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        began, load_before = time.perf_counter(), os.getloadavg()[0]
        if args.reuse:  # the wall times of the run that trained them, if it saved them
            saved = work / "clock.json"
            clock = json.loads(saved.read_text()) if saved.is_file() else {}
            report_and_write(args, work, load_before, clock)
            return
        build_corpus(
            CorpusConfig(work / "corpus", args.voices, utterances=args.utterances, workers=1),
            progress=False,
        )
        prepared = work / "prepared"
        prepare_dataset(work / "corpus", prepared, workers=1, progress=False)
        clock = {"corpus": time.perf_counter() - began}
        base = train(prepared, work / "base", args.steps)
        clock["base"] = time.perf_counter() - began - sum(clock.values())
        make_reflow_pairs(base, prepared, work / "pairs", nfe=args.nfe, seed=0, progress=False)
        clock["pairs"] = time.perf_counter() - began - sum(clock.values())
        more = [f"init_from={base}"]
        train(
            prepared, work / "reflow", args.reflow_steps, *more,
            f"data.reflow_pairs={work / 'pairs'}", "model.path=rectified",
        )  # fmt: skip
        clock["reflow"] = time.perf_counter() - began - sum(clock.values())
        train(prepared, work / "control", args.reflow_steps, *more)
        clock["control"] = time.perf_counter() - began - sum(clock.values())
        (work / "clock.json").write_text(json.dumps(clock))
        report_and_write(args, work, load_before, clock)


def report_and_write(args, work: Path, load_before: float, clock: dict[str, float]) -> None:
    prepared = work / "prepared"
    made = len(list((work / "pairs" / "pairs").glob("*.safetensors")))
    rows = {
        f"base ({args.steps} steps, OT-CFM)": measure(
            work / "base" / "model", prepared, args.nfe, args.eval_items
        ),
        f"control (+{args.reflow_steps} steps on real mels)": measure(
            work / "control" / "model", prepared, args.nfe, args.eval_items
        ),
        f"reflow (+{args.reflow_steps} steps on {made} pairs, rectified)": measure(
            work / "reflow" / "model", prepared, args.nfe, args.eval_items
        ),
    }
    load_after = os.getloadavg()[0]
    first = rows[next(iter(rows))]
    lines = [
        "# Reflow of the tiny aligned TTS model (CPU)",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), shared with other jobs "
        f"(1-min load average {load_before:.1f} at the start, {load_after:.1f} at the end); "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads. Command: "
        f"`python benchmarks/{NAME}.py --utterances {args.utterances} --steps {args.steps} "
        f"--reflow-steps {args.reflow_steps} --nfe {args.nfe} --eval-items {args.eval_items}`"
        + (" (measured again with --reuse on the models it trained)." if args.reuse else "."),
        "",
        f"Corpus: {args.utterances} utterances of {', '.join(args.voices)}. Pairs: Euler "
        f"{args.nfe} steps, temperature 1, CFG off, MAS durations. Measured on "
        f"{first['items']} utterances ({first['held_out']} held out, the rest from the training "
        "split the pairs were made from; MAS durations of their real mels, CFG off, no audio "
        f"prompt); S with Euler {args.nfe} steps; few-step error = mean "
        f"squared difference per mel element between an n-step and the {args.nfe}-step Euler "
        "decode of the same noise. No vocoder, no WER (the model is far too briefly trained to "
        "speak; a WER-vs-NFE table before/after reflow needs a trained model).",
        "",
        "| model | straightness S | error 1 step | error 2 steps |",
        "|---|---|---|---|",
        *[f"| {k} | {v['S']:.4f} | {v['gap1']:.4f} | {v['gap2']:.4f} |" for k, v in rows.items()],
        "",
        "Wall time (s) of the run that trained the models: "
        + ", ".join(f"{k} {v:.0f}" for k, v in clock.items())
        + ".",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
