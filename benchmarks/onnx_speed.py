"""RTF of `Synthesizer.speak` with the torch backend and the onnx backend, side by side.

    python -m benchmarks.onnx_speed --threads 2 --lines 6 --rounds 3 \\
        --out benchmarks/results/onnx_speed.md

# n: frames, f: mel bins
The model folder (default: the bundled voice) is exported once with ``flowvox export-onnx``
into a temporary folder (its seconds are reported). Both Synthesizers load THAT folder, so
they hold the same weights: ``backend="torch"`` (the copied model.safetensors and vocoder)
and ``backend="onnx"`` (velocity.onnx and vocoder/vocoder.onnx in onnxruntime; text encoding
and durations in torch). Both run ``--threads`` threads: ``torch.set_num_threads`` before
loading, which also sets the onnxruntime sessions' intra-op threads (one inter-op thread).
Same sentences (``flowvox.bench.lines.pick_lines``), sampling options (the folder's defaults
unless ``--nfe`` / ``--cfg``), seed 0 and voice prompt (the folder's default voice) for both.
Each backend speaks one warm-up sentence first (excluded), then the backends take turns for
``--rounds`` rounds, each speaking every line one at a time (batch 1), so a change in the
machine's load falls on both alike. RTF = compute seconds / seconds of audio made, summed
over the rounds; "torch / onnx" = torch's RTF / onnx's (above 1: onnx is faster). The mel
columns compare the generated mels (n, f) chunk by chunk before the vocoder: max and mean
|mel_onnx − mel_torch| (log-mel units), and the chunks whose frame counts differ (0 expected:
both take their durations from the same torch code). Run it on a quiet machine: on a shared
one only the ratio within one run means anything.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.speak_timing import mels_of, time_lines
from flowvox.bench.lines import pick_lines
from flowvox.bench.report import hardware_lines
from flowvox.infer import Synthesizer
from flowvox.infer.model_dir import BUNDLED_DIR, named_voices
from flowvox.infer.onnx.folder import export_onnx

BACKENDS = ("torch", "onnx")


def compare(mels: list[torch.Tensor], reference: list[torch.Tensor]) -> tuple[float, float, int]:
    """(max |mel − ref|, mean |mel − ref|, chunks whose frame count differs)."""
    worst, total, count, moved = 0.0, 0.0, 0, 0
    for mel, ref in zip(mels, reference, strict=True):
        n = min(len(mel), len(ref))
        moved += len(mel) != len(ref)
        diff = (mel[:n] - ref[:n]).abs()  # (n, f)
        worst = max(worst, float(diff.max()))
        total += float(diff.sum())
        count += diff.numel()
    return worst, total / count, moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_DIR)
    parser.add_argument("--lines", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nfe", type=int, default=None, help="default: the model's")
    parser.add_argument("--cfg", type=float, default=None, help="default: the model's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # torch, and the onnxruntime sessions opened below

    lines = pick_lines(args.lines)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "onnx"
        start = time.perf_counter()
        export = export_onnx(args.model, folder, args.exporter)
        export_seconds = time.perf_counter() - start
        print(export.summary(), flush=True)
        synths = {b: Synthesizer.from_pretrained(folder, backend=b) for b in BACKENDS}
        voices, default = named_voices(folder)
        prompt = voices[default]
        changes = {k: v for k, v in {"nfe": args.nfe, "cfg": args.cfg}.items() if v is not None}
        opts = synths["torch"].default_options(seed=0, **changes)

        for synth in synths.values():  # warm-up, excluded
            synth.speak(lines[0], *prompt, options=opts)
        compute = dict.fromkeys(BACKENDS, 0.0)
        audio = dict.fromkeys(BACKENDS, 0.0)
        for round_ in range(args.rounds):
            for name, synth in synths.items():
                c, a = time_lines(synth, lines, prompt, opts)
                compute[name] += c
                audio[name] += a
                print(f"round {round_ + 1}: {name} RTF {c / a:.3f}", flush=True)
        mels = {name: mels_of(synth, lines, prompt, opts) for name, synth in synths.items()}

    rtf = {name: compute[name] / audio[name] for name in BACKENDS}
    worst, mean, moved = compare(mels["onnx"], mels["torch"])
    report = [
        "# Synthesis speed: torch backend against onnx backend (onnxruntime)",
        "",
        "Produced by `python -m benchmarks.onnx_speed` (method in its docstring).",
        "",
        *hardware_lines(),
        f"- Model `{args.model}` exported with the {args.exporter} exporter in "
        f"{export_seconds:.1f} s; its vocoder; voice `{default}`; options nfe={opts.nfe}, "
        f"cfg={opts.cfg}, sway={opts.sway}, solver {opts.solver}, seed 0; batch 1",
        f"- {len(lines)} lines × {args.rounds} interleaved rounds, {args.threads} threads for "
        "both (onnxruntime: intra-op threads, 1 inter-op), after one warm-up line each",
        "",
        "| backend | RTF | audio s |",
        "|---|---|---|",
        *(f"| {name} | {rtf[name]:.3f} | {audio[name]:.1f} |" for name in BACKENDS),
        "",
        f"torch / onnx RTF ratio: **{rtf['torch'] / rtf['onnx']:.2f}** (above 1: onnx faster)",
        "",
        f"Mels, onnx against torch over {len(mels['torch'])} chunks: max |diff| {worst:.2e}, "
        f"mean |diff| {mean:.2e} (log-mel units); chunks with other frame counts: {moved}",
    ]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
