"""`flowvox bench`: synthesis RTF and bulk throughput across NFE, training step speed,
peak memory and MFU, written as a markdown report (``benchmarks/results/``).

Part of the CLI (``flowvox.cli.main`` adds the verb); the library imports sit inside the verb so
that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from flowvox.cli.options import add_device_option, add_threads_option, set_threads

EXAMPLES = """What is measured (all in one run, so the figures share the machine's state):
  synthesis  RTF of Synthesizer.speak one line at a time, throughput of `flowvox generate`
             (bulk, frame-budget batches) on the same lines, in interleaved rounds;
  training   optimizer-step time and frames/s on a fixed random batch (loss, backward,
             clipping, AdamW), per --train-shape;
  memory     peak resident memory each phase adds (peak allocation on CUDA);
  MFU        model FLOPs (matmul, conv, attention) / time / this machine's measured matmul
             peak; 1/MFU at batch 1 bounds what bulk batching can gain.

examples:
  flowvox bench --preset infill:tiny                     # random weights, Vocos-size vocoder
  flowvox bench --preset infill:small --nfe 8 --lines 4 --train-shape 1x400
  flowvox bench --model runs/voice-en7/model --vocoder griffin-lim --skip training
  flowvox bench --preset infill:tiny --threads 1 --out benchmarks/results/bench_tiny.md
"""


def add_bench_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    bench = verbs.add_parser(
        "bench",
        help="speed, memory and MFU of synthesis and training",
        description="Measure synthesis (batch 1 and bulk, across NFE) and training speed of a "
        "model folder or of a preset with random weights (speed does not depend on the "
        "weights' values), with peak memory and MFU; print a markdown report.",
        epilog=EXAMPLES,
        formatter_class=formatter_class,
    )
    what = bench.add_mutually_exclusive_group()
    what.add_argument("--model", metavar="DIR", help="a trained model folder")
    what.add_argument(
        "--preset", default="infill:tiny", metavar="FAMILY:NAME",
        help="random weights of a preset: infill:tiny|small|base, aligned:tiny|small "
        "(default: infill:tiny)",
    )  # fmt: skip
    bench.add_argument(
        "--vocoder", default="vocos-size", metavar="DIR|NAME",
        help="a vocoder folder, griffin-lim, or vocos-size (random Vocos of the released "
        "vocos-mel-24khz size; default)",
    )  # fmt: skip
    bench.add_argument("--nfe", type=int, nargs="+", default=[8, 16, 32], metavar="N")
    bench.add_argument("--cfg", type=float, default=2.0, help="guidance weight (default: 2)")
    bench.add_argument(
        "--precision", choices=("fp32", "bf16"), default="fp32",
        help="precision of synthesis (see `flowvox speak --help`) and of the training step "
        "(bf16: train.mixed_precision bf16, autocast); default: fp32",
    )  # fmt: skip
    bench.add_argument("--lines", type=int, default=24, help="lines spoken (default: 24)")
    bench.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default: 2)")
    bench.add_argument(
        "--batch-frames", type=int, default=None, metavar="N",
        help="bulk padded frames per batch (default: generate's default for the device)",
    )  # fmt: skip
    bench.add_argument(
        "--train-shape", nargs="+", default=["1x200", "4x400"], metavar="BxN",
        help="training batches: items × frames (default: 1x200 4x400)",
    )  # fmt: skip
    bench.add_argument("--train-steps", type=int, default=5, help="timed steps (default: 5)")
    bench.add_argument(
        "--skip", nargs="+", default=[], choices=("synthesis", "training"), help="phases to skip"
    )
    bench.add_argument("--no-mfu", action="store_true", help="do not count FLOPs (faster)")
    add_threads_option(bench)
    add_device_option(bench)
    bench.add_argument("--out", type=Path, default=None, metavar="FILE.md", help="write here")
    bench.add_argument("--json", type=Path, default=None, metavar="FILE.json", help="raw rows")
    bench.set_defaults(run=run_bench)


def _shape(text: str) -> tuple[int, int]:
    from flowvox.errors import FlowvoxError

    try:
        b, n = (int(v) for v in text.lower().split("x"))
        if b < 1 or n < 16:
            raise ValueError
    except ValueError:
        raise FlowvoxError(
            f"--train-shape {text!r}: expected ITEMSxFRAMES with frames >= 16, e.g. 4x400"
        ) from None
    return b, n


def _check(args: argparse.Namespace) -> None:
    from flowvox.errors import FlowvoxError

    if any(n < 1 for n in args.nfe):
        raise FlowvoxError(f"--nfe {args.nfe}: every NFE must be >= 1")
    if args.cfg < 0:
        raise FlowvoxError(f"--cfg {args.cfg}: guidance weight must be >= 0")
    if args.lines < 1 or args.rounds < 1 or args.train_steps < 1:
        raise FlowvoxError("--lines, --rounds and --train-steps must be >= 1")
    if args.out is not None and not args.out.parent.is_dir():
        raise FlowvoxError(f"--out {args.out}: folder {args.out.parent} does not exist")


def run_bench(args: argparse.Namespace) -> None:
    import torch

    from flowvox.bench.flops import measure_matmul_peak
    from flowvox.bench.report import render
    from flowvox.bench.setup import build_synthesizer

    _check(args)
    shapes = [_shape(s) for s in args.train_shape]
    set_threads(args)
    built = build_synthesizer(args.model, args.preset, args.vocoder, args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    peak = measure_matmul_peak(args.device, dtype=dtype)  # MFU against the run's own precision
    print(f"flowvox bench: {built.name}; matmul peak {peak.describe()}", flush=True)
    synthesis, training = [], []
    if "synthesis" not in args.skip:
        synthesis = _synthesis(args, built)
    if "training" not in args.skip:
        from flowvox.bench.training import measure_training

        for b, n in shapes:
            row = measure_training(
                built.trainable(), b, n, args.train_steps, args.device, args.precision
            )
            print(f"training {b}x{n}: {row.step_seconds:.3f} s/step", flush=True)
            training.append(row)
    conditions = [
        f"- Model: {built.name}",
        f"- Vocoder: {built.vocoder_name}",
        f"- Precision: {args.precision} (synthesis and training step)",
        f"- Synthesis: CFG w = {args.cfg:g} (one doubled batch per step), "
        "Euler, sway -1; "
        f"{args.lines} WordNet lines (both passes), {args.rounds} interleaved rounds; "
        "voice prompt: 3 s synthetic speech-like clip",
        f"- Command: `flowvox bench {' '.join(_argv(args))}`",
    ]
    report = render("flowvox bench", conditions, peak, synthesis, training, args.device)
    print(report)
    if args.out is not None:
        _write_atomic(args.out, report)
        print(f"wrote {args.out}")
    if args.json is not None:
        rows = {
            "synthesis": [asdict(r) for r in synthesis],
            "training": [asdict(r) for r in training],
        }
        rows["matmul_peak_flops_per_s"] = peak.flops_per_s
        _write_atomic(args.json, json.dumps(rows, indent=1))


def _synthesis(args: argparse.Namespace, built) -> list:
    import soundfile as sf

    from flowvox.bench.lines import REF_TEXT, pick_lines, speech_like
    from flowvox.bench.synthesis import measure_synthesis
    from flowvox.infer.bulk import default_batch_frames

    lines = pick_lines(args.lines)
    budget = args.batch_frames or default_batch_frames(built.synth)
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref.wav"
        sf.write(ref, speech_like(3.0, built.sample_rate), built.sample_rate)
        return measure_synthesis(
            built.synth, lines, ref, REF_TEXT, args.nfe, args.cfg, budget, Path(tmp),
            rounds=args.rounds, count_flops=not args.no_mfu, device=args.device,
            progress=lambda m: print(m, flush=True), precision=args.precision,
        )  # fmt: skip


def _argv(args: argparse.Namespace) -> list[str]:
    parts = [f"--model {args.model}" if args.model else f"--preset {args.preset}"]
    parts += [f"--vocoder {args.vocoder}", "--nfe " + " ".join(map(str, args.nfe))]
    parts += [f"--cfg {args.cfg:g}", f"--precision {args.precision}", f"--lines {args.lines}"]
    if args.threads:
        parts.append(f"--threads {args.threads}")
    if args.skip:
        parts.append("--skip " + " ".join(args.skip))
    return parts


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
