"""RTF of `Synthesizer.speak` at each precision (fp32, bf16, int8) on the bundled voice.

    python -m benchmarks.precision_speed --threads 2 --lines 6 --rounds 3 \\
        --out benchmarks/results/precision_speed.md

# n: frames, f: mel bins
One Synthesizer (the model folder's own vocoder), the same ``--lines`` sentences
(``flowvox.bench.lines.pick_lines``), sampling options (the folder's defaults unless ``--nfe``
/ ``--cfg``), seed 0 and voice prompt for every precision. Each precision speaks one warm-up
sentence first (for int8 that builds the quantised copy; its seconds are reported apart),
then the precisions take turns for ``--rounds`` rounds, each speaking every line one at a
time (batch 1), so a change in the machine's load falls on all of them alike. RTF = compute
seconds / seconds of audio made, summed over the rounds; "× fp32" = fp32's RTF / this one
(above 1: faster). The mel columns compare each precision's generated mels (n, f) with fp32's
chunk by chunk, before the vocoder: mean |mel − mel_fp32| (log-mel units) and ‖mel − mel_fp32‖ /
‖mel_fp32‖ (chunks whose frame count differs are compared over their common frames, and
counted). "vocoder share" is the part of fp32's time spent in the vocoder, an upper bound on
what quantising it could save. Run it on a quiet machine: only the ratios within one run mean
anything on a shared one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks.speak_timing import mels_of, time_lines
from flowvox.bench.lines import pick_lines
from flowvox.bench.report import hardware_lines
from flowvox.infer import Synthesizer
from flowvox.infer.model_dir import BUNDLED_DIR, named_voices
from flowvox.infer.options import PRECISIONS, SynthesisOptions
from flowvox.infer.vocode import vocode_mels


def compare(mels: list[torch.Tensor], reference: list[torch.Tensor]) -> tuple[float, float, int]:
    """(mean |mel − ref|, ‖mel − ref‖ / ‖ref‖, chunks whose frame count differs)."""
    abs_sum = count = sq = ref_sq = 0.0
    moved = 0
    for mel, ref in zip(mels, reference, strict=True):
        n = min(len(mel), len(ref))
        moved += len(mel) != len(ref)
        diff = mel[:n] - ref[:n]  # (n, f)
        abs_sum += float(diff.abs().sum())
        count += diff.numel()
        sq += float(diff.pow(2).sum())
        ref_sq += float(ref[:n].pow(2).sum())
    return abs_sum / count, (sq / ref_sq) ** 0.5, moved


def vocoder_seconds(synth: Synthesizer, mels: list[torch.Tensor]) -> float:
    start = time.perf_counter()
    for mel in mels:
        vocode_mels(synth.vocoder, [mel])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_DIR)
    parser.add_argument("--lines", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nfe", type=int, default=None, help="default: the model's")
    parser.add_argument("--cfg", type=float, default=None, help="default: the model's")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    precisions = ["fp32", *[p for p in args.precisions if p != "fp32"]]

    lines = pick_lines(args.lines)
    synth = Synthesizer.from_pretrained(args.model)
    voices, default = named_voices(args.model)
    prompt = voices[default]
    changes = {k: v for k, v in {"nfe": args.nfe, "cfg": args.cfg}.items() if v is not None}
    base = synth.default_options(seed=0, **changes)
    options: dict[str, SynthesisOptions] = {p: base.replace(precision=p) for p in precisions}

    warm: dict[str, float] = {}
    for precision, opts in options.items():  # warm-up, excluded (int8: quantises here)
        start = time.perf_counter()
        synth.speak(lines[0], *prompt, options=opts)
        warm[precision] = time.perf_counter() - start
    compute = dict.fromkeys(precisions, 0.0)
    audio = dict.fromkeys(precisions, 0.0)
    for round_ in range(args.rounds):
        for precision, opts in options.items():
            c, a = time_lines(synth, lines, prompt, opts)
            compute[precision] += c
            audio[precision] += a
            print(f"round {round_ + 1}: {precision} RTF {c / a:.3f}", flush=True)
    mels = {p: mels_of(synth, lines, prompt, opts) for p, opts in options.items()}
    voc_share = vocoder_seconds(synth, mels["fp32"]) / (compute["fp32"] / args.rounds)

    rtf = {p: compute[p] / audio[p] for p in precisions}
    rows = []
    for p in precisions:
        mean_abs, rel, moved = compare(mels[p], mels["fp32"])
        rows.append(
            f"| {p} | {rtf[p]:.3f} | {rtf['fp32'] / rtf[p]:.2f} | {audio[p]:.1f} | "
            f"{warm[p]:.2f} | {mean_abs:.4f} | {100 * rel:.2f} % | {moved} |"
        )
    report = [
        "# Synthesis speed by precision (bundled voice)",
        "",
        "Produced by `python -m benchmarks.precision_speed` (method in its docstring).",
        "",
        *hardware_lines(),
        f"- Model `{args.model}`, its vocoder; voice `{default}`; options nfe={base.nfe}, "
        f"cfg={base.cfg}, sway={base.sway}, solver {base.solver}, seed 0; batch 1",
        f"- {len(lines)} lines × {args.rounds} interleaved rounds, {args.threads} threads, "
        f"after one warm-up line per precision; vocoder share of fp32 time {100 * voc_share:.0f} %",
        "",
        "| precision | RTF | × fp32 | audio s | warm-up s | mean abs mel diff | rel. mel diff "
        "| chunks with other frames |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
