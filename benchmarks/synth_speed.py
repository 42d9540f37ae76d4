"""Synthesis speed on this CPU: one line at a time against bulk generation, side by side.

    python -m benchmarks.synth_speed              # full run -> results/synth_speed.md
    python -m benchmarks.synth_speed --quick      # smoke run (< 60 s), prints only

# b: batch, n: mel frames, f: mel bins, s: samples
For each infill preset (``flowvox/configs/infill/{tiny,small}.yaml``, RANDOM weights: speed
does not depend on their values), vocoder and NFE, with CFG w (default 2, one doubled batch per
step), the same lines are spoken twice:

- one at a time: ``Synthesizer.speak`` per line (batch 1), on a length-stratified subset of the
  lines (``--single-lines``; a rate, so a subset that spans the same lengths estimates it);
- bulk: ``flowvox.infer.bulk.generate_bulk`` over all ``--lines`` lines (frame-budget batches,
  wavs and manifest written, as ``flowvox generate`` does).

The two passes are interleaved in ``--rounds`` rounds (each round: one-at-a-time on a
length-strided share of the subset, then bulk on a length-strided share of the lines), so a
change of machine load hits both; the table sums the rounds and gives the per-round ratios.
Rates are audio seconds per compute second (wall clock, including wav writing for bulk);
RTF batch 1 = compute seconds / audio seconds of the one-at-a-time pass; ratio = bulk rate /
one-at-a-time rate. Time inside the acoustic model (text encoder + ODE steps) and inside the
vocoder is measured with forward hooks; the rest (planning, joins, files) is "other".
Lines: WordNet example sentences (``flowvox.data.corpus.wordnet_sentences``, Debian
``wordnet-base``) picked evenly over their length range, else a fixed list. The voice prompt is
a synthetic speech-like clip of ``--ref-seconds`` with a fixed transcript.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
import torch
from torch import nn

import flowvox.infer.synthesizer as synthesizer_module
from flowvox.bench.lines import REF_TEXT, pick_lines, speech_like, stratified
from flowvox.infer import SynthesisOptions, Synthesizer
from flowvox.infer.bulk import CPU_BATCH_FRAMES, DEFAULT_BATCH_FRAMES, generate_bulk
from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.text import CharTokenizer, build_vocab
from flowvox.vocoders import Vocos, VocosConfig
from flowvox.vocoders.griffin_lim import griffin_lim_vocoder

RESULTS = Path(__file__).parent / "results" / "synth_speed.md"
VOCODERS = {
    "vocos": "Vocos, vocos-mel-24khz size (13.5M, random weights)",
    "griffin-lim": "Griffin-Lim (32 iterations, vocos24k mel)",
}


@dataclass
class Clock:
    """Seconds spent inside hooked modules (acoustic model, vocoder)."""

    acoustic: float = 0.0
    vocoder: float = 0.0
    _start: dict[str, float] = field(default_factory=dict)

    def hook(self, module: nn.Module, name: str) -> list:
        """Add pre/post forward hooks timing ``module`` into ``self.<name>``."""

        def pre(*_):
            self._start[name] = time.perf_counter()

        def post(*_):
            setattr(self, name, getattr(self, name) + time.perf_counter() - self._start[name])

        return [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    def reset(self) -> None:
        self.acoustic = self.vocoder = 0.0


@dataclass
class Pass:
    """One timed pass: audio made, compute seconds, and their split."""

    audio: float
    seconds: float
    acoustic: float
    vocoder: float

    @property
    def rate(self) -> float:
        return self.audio / self.seconds


@dataclass
class Row:
    preset: str
    vocoder: str
    nfe: int
    single: Pass
    bulk: Pass
    batches: int
    ratios: list[float]  # per round
    budget: int


def random_model(preset: str, tokenizer: CharTokenizer) -> InfillTTS:
    """The preset with random weights (all moved off their init, so no layer is all-zero)."""
    config = InfillTTSConfig.preset(preset, [f"text_vocab_size={tokenizer.vocab_size}"])
    torch.manual_seed(0)
    model = InfillTTS(config).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.02)
    return model


def make_vocoder(name: str) -> nn.Module:
    if name == "vocos":
        torch.manual_seed(0)
        return Vocos(VocosConfig()).eval()
    return griffin_lim_vocoder("vocos24k")


@contextmanager
def hooked(synth: Synthesizer, clock: Clock) -> Iterator[None]:
    """Time the acoustic model (forward hooks) and the vocoder (the Synthesizer's
    ``vocode_mels``, which runs Vocos batches without calling its ``forward``)."""
    handles = clock.hook(synth.model, "acoustic")
    handles += clock.hook(synth.model.transformer.text_embed, "acoustic")
    original = synthesizer_module.vocode_mels

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            clock.vocoder += time.perf_counter() - start

    synthesizer_module.vocode_mels = timed
    try:
        yield
    finally:
        synthesizer_module.vocode_mels = original
        for handle in handles:
            handle.remove()


def one_at_a_time(synth, lines, ref, opts, clock) -> Pass:
    clock.reset()
    audio, start = 0.0, time.perf_counter()
    for i, line in enumerate(lines):
        audio += synth.speak(line, ref, REF_TEXT, opts.replace(seed=i)).duration
    return Pass(audio, time.perf_counter() - start, clock.acoustic, clock.vocoder)


def bulk(synth, source, out, ref, opts, clock, batch_frames) -> tuple[Pass, int]:
    clock.reset()
    start = time.perf_counter()
    report = generate_bulk(
        synth, source, out, opts, batch_frames=batch_frames, progress=False,
        ref_audio=ref, ref_text=REF_TEXT,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return Pass(report.audio_seconds, seconds, clock.acoustic, clock.vocoder), report.batches


def add(a: Pass, b: Pass) -> Pass:
    return Pass(a.audio + b.audio, a.seconds + b.seconds, a.acoustic + b.acoustic,
                a.vocoder + b.vocoder)  # fmt: skip


def interleaved(synth, single, lines, work, key, ref, opts, clock, args, budget) -> Row:
    """``args.rounds`` rounds of [one-at-a-time on a share of ``single``, bulk on a share of
    ``lines``] (shares strided in length order), so load changes hit both passes alike."""
    one, many = Pass(0, 0, 0, 0), Pass(0, 0, 0, 0)
    batches, ratios = 0, []
    short_first = sorted(lines, key=len)
    rounds = max(1, min(args.rounds, len(single)))
    for r in range(rounds):
        name = f"{key[0]}-{key[1]}-{opts.nfe}-{budget}-{r}"
        source = work / f"{name}.txt"
        source.write_text("\n".join(short_first[r::rounds]) + "\n", encoding="utf-8")
        part_one = one_at_a_time(synth, single[r::rounds], ref, opts, clock)
        part_many, part_batches = bulk(
            synth, source, work / f"out-{name}", ref, opts, clock, budget
        )
        one, many, batches = add(one, part_one), add(many, part_many), batches + part_batches
        ratios.append(part_many.rate / part_one.rate)
    return Row(*key, opts.nfe, one, many, batches, ratios, budget)


def hardware() -> list[str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return [
        f"- CPU: {model}, {os.cpu_count()} cores ({platform.machine()}); "
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads",
        f"- Machine load (uptime): `{load}`",
    ]


def share(p: Pass) -> str:
    return f"{100 * p.acoustic / p.seconds:.0f} / {100 * p.vocoder / p.seconds:.0f}"


def table(rows: list[Row]) -> list[str]:
    out = [
        "| preset | vocoder | NFE | RTF batch 1 | bulk audio-s/s | one-at-a-time audio-s/s "
        "| ratio | acoustic / vocoder % (1-at-a-time) | acoustic / vocoder % (bulk) "
        "| bulk frame budget | bulk batches | ratio per round (min-max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.preset} | {r.vocoder} | {r.nfe} | {1 / r.single.rate:.3f} "
            f"| {r.bulk.rate:.2f} | {r.single.rate:.2f} | {r.bulk.rate / r.single.rate:.2f}x "
            f"| {share(r.single)} | {share(r.bulk)} | {r.budget} | {r.batches} "
            f"| {min(r.ratios):.2f}-{max(r.ratios):.2f} |"
        )
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (< 60 s), prints only")
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--vocoders", nargs="+", default=["vocos", "griffin-lim"])
    parser.add_argument("--nfe", nargs="+", type=int, default=[8, 16, 32])
    parser.add_argument("--cfg", type=float, default=2.0)
    parser.add_argument("--lines", type=int, default=100, help="bulk lines per preset")
    parser.add_argument("--single-lines", type=int, default=20, help="one-at-a-time subset")
    parser.add_argument(
        "--preset-lines", nargs="*", default=[], metavar="PRESET=BULK,SINGLE",
        help="per-preset line counts, e.g. small=8,2 (a big preset on a small CPU)",
    )  # fmt: skip
    parser.add_argument(
        "--preset-nfe", nargs="*", default=[], metavar="PRESET=N,N",
        help="per-preset NFE list, e.g. small=8 (a big preset on a small CPU)",
    )  # fmt: skip
    parser.add_argument("--griffin-lim-presets", nargs="+", default=["tiny"])
    parser.add_argument("--griffin-lim-nfe", nargs="+", type=int, default=[8, 16, 32])
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--ref-seconds", type=float, default=3.0)
    parser.add_argument(
        "--batch-frames", nargs="+", type=int, default=[DEFAULT_BATCH_FRAMES, CPU_BATCH_FRAMES],
        help="bulk frame budgets; the extra ones run on the first preset and vocoder only",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="a line added to the results file")
    args = parser.parse_args()
    if args.quick:
        args.presets, args.vocoders, args.nfe = ["tiny"], ["vocos"], [8]
        args.lines, args.single_lines, args.preset_lines, args.preset_nfe = 12, 4, [], []
        args.rounds, args.batch_frames = 2, args.batch_frames[:1]
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = {p: (args.lines, args.single_lines) for p in args.presets}
    for spec in args.preset_lines:
        name, value = spec.split("=")
        bulk_n, single_n = value.split(",")
        counts[name] = (int(bulk_n), int(single_n))
    nfes = {p: args.nfe for p in args.presets}
    for spec in args.preset_nfe:
        name, value = spec.split("=")
        nfes[name] = [int(v) for v in value.split(",")]
    wall = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ref = work / "ref.wav"
        sf.write(ref, speech_like(args.ref_seconds), 24000)
        all_lines = pick_lines(max(n for n, _ in counts.values()))
        tokenizer = CharTokenizer(build_vocab(all_lines + [REF_TEXT]))
        for preset in args.presets:
            bulk_n, single_n = counts[preset]
            lines = all_lines[:bulk_n]
            single = stratified(lines, single_n)
            model = random_model(preset, tokenizer)
            for vocoder_name in args.vocoders:
                if vocoder_name == "griffin-lim" and preset not in args.griffin_lim_presets:
                    continue
                synth = Synthesizer(model, tokenizer, make_vocoder(vocoder_name))
                clock = Clock()
                with hooked(synth, clock):
                    for nfe in nfes[preset]:
                        opts = SynthesisOptions(nfe=nfe, cfg=args.cfg, seed=0)
                        if vocoder_name == "griffin-lim" and nfe not in args.griffin_lim_nfe:
                            continue
                        synth.speak(single[0], ref, REF_TEXT, opts.replace(nfe=1))  # warm-up
                        key = (preset, vocoder_name)
                        first = (preset, vocoder_name) == (args.presets[0], args.vocoders[0])
                        for budget in args.batch_frames if first else args.batch_frames[:1]:
                            row = interleaved(
                                synth, single, lines, work, key, ref, opts, clock, args, budget
                            )
                            rows.append(row)
                            print(table([row])[-1], flush=True)
        lengths = sorted(len(line) for line in all_lines)
    elapsed = time.perf_counter() - wall
    report = render(args, rows, counts, nfes, lengths, elapsed)
    print("\n".join(table(rows)))
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
        print(f"wrote {args.out}")


def render(args, rows, counts, nfes, lengths, elapsed) -> str:
    ratios = [r.bulk.rate / r.single.rate for r in rows]
    count_text = ", ".join(f"{p}: {b} bulk / {s} one-at-a-time" for p, (b, s) in counts.items())
    lines = [
        "# Synthesis speed: one line at a time vs bulk",
        "",
        "Produced by `python -m benchmarks.synth_speed` (see its docstring for the method).",
        "",
        *hardware(),
        "- Models: flowvox/configs/infill/{"
        + ",".join(args.presets)
        + "}.yaml with RANDOM weights (speed does not depend on the values)",
        f"- Guidance: CFG w = {args.cfg} (doubled batch each step), Euler, sway -1; NFE "
        + "; ".join(f"{p}: {', '.join(map(str, n))}" for p, n in nfes.items()),
        "- Vocoders: " + "; ".join(f"{k} = {VOCODERS[k]}" for k in args.vocoders),
        "- Batch: one-at-a-time = `Synthesizer.speak`, batch 1; bulk = `generate_bulk` with "
        "the frame budget (padded frames per batch) in the table, wavs written",
        f"- Reference: {args.ref_seconds:.1f} s synthetic speech-like clip, "
        f"{len(REF_TEXT)}-character transcript",
        f"- Lines: {count_text}; text lengths {lengths[0]}-{lengths[-1]} characters "
        f"(median {lengths[len(lengths) // 2]})",
        f"- Run took {elapsed / 60:.1f} min",
    ]
    if args.note:
        lines.append(f"- Note: {args.note}")
    lines += ["", *table(rows), ""]
    if ratios:
        lines.append(
            f"Bulk / one-at-a-time ratio: min {min(ratios):.2f}x, max {max(ratios):.2f}x "
            "(target >= 3x)."
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
