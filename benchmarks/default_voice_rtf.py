"""End-to-end RTF of the bundled default voice: `Synthesizer.speak` with the model loaded.

    python -m benchmarks.default_voice_rtf --threads 2 --nfe 4 8 16 32 \\
        --out benchmarks/results/default_voice_rtf.md

What `flowvox speak "..."` does after loading, timed per sentence: text -> phonemes -> the
aligned model (durations, then the flow decoder at each NFE with CFG as one doubled batch,
prompted by the default voice's clip) -> vocoder -> waveform. RTF = compute seconds / seconds
of audio made, summed over ``--lines`` held-out sentences, one at a time (batch 1), after one
warm-up sentence. Vocoders: the model folder's own (shipped), Griffin-Lim (32 iterations) when
that is not the shipped one, and a random-weight Vocos of the released vocos-mel-24khz size
(13.5 M parameters; speed does not depend on the weights' values). Run it on a quiet machine
(pause training runs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from flowvox.bench.report import hardware_lines
from flowvox.infer import Synthesizer
from flowvox.infer.model_dir import BUNDLED_DIR, named_voices, sampling_defaults
from flowvox.vocoders import GriffinLim

REPO = Path(__file__).resolve().parents[1]


def test_sentences(manifest: Path, count: int) -> list[str]:
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    seen = [r["text"] for r in rows if r.get("extra", {}).get("group") == "seen"]
    return seen[:count]


def random_vocos(mel):
    from flowvox.vocoders.vocos.model import Vocos, VocosConfig

    torch.manual_seed(0)
    return Vocos(VocosConfig(mel=mel)).eval()


def vocoder_name(vocoder: torch.nn.Module) -> str:
    """ "Griffin-Lim", or the family and parameter count ("Vocos 3.6 M")."""
    if isinstance(vocoder, GriffinLim):
        return "Griffin-Lim"
    params = sum(p.numel() for p in vocoder.parameters()) / 1e6
    return f"{type(vocoder).__name__} {params:.1f} M"


def time_speak(synth: Synthesizer, lines: list[str], nfe: int, prompt) -> tuple[float, float]:
    """(compute seconds, audio seconds) of speaking ``lines`` one at a time."""
    options = synth.default_options(nfe=nfe, seed=0)
    synth.speak(lines[0], *prompt, options=options)  # warm-up (caches the prompt)
    compute = audio = 0.0
    for text in lines:
        start = time.perf_counter()
        speech = synth.speak(text, *prompt, options=options)
        compute += time.perf_counter() - start
        audio += speech.duration
    return compute, audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_DIR)
    parser.add_argument("--manifest", type=Path, default=REPO / "data" / "testset-en7.jsonl")
    parser.add_argument("--lines", type=int, default=12)
    parser.add_argument("--nfe", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lines = test_sentences(args.manifest, args.lines)
    voices, default = named_voices(args.model)
    prompt = voices[default]
    sampling = sampling_defaults(args.model)
    shipped = Synthesizer.from_pretrained(args.model)
    systems = {f"{vocoder_name(shipped.vocoder)} (shipped)": shipped}
    if not isinstance(shipped.vocoder, GriffinLim):
        systems["Griffin-Lim"] = Synthesizer.from_pretrained(args.model, "griffin-lim")
    released = random_vocos(shipped.mel_config)
    systems["Vocos released size, random"] = Synthesizer.from_pretrained(args.model, released)
    rows = []
    for nfe in args.nfe:
        for name, synth in systems.items():
            compute, audio = time_speak(synth, lines, nfe, prompt)
            rows.append((nfe, name, compute / audio, audio))
            print(f"NFE {nfe:2d}  {name:28s} RTF {compute / audio:.3f}", flush=True)
    report = [
        "# End-to-end RTF of the bundled default voice",
        "",
        "Produced by `python -m benchmarks.default_voice_rtf` (method in its docstring).",
        "",
        *hardware_lines(),
        f"- Model `{args.model}`; voice `{default}` (its {prompt[0].name} as the prompt); "
        f"sampling defaults {sampling}; CFG as one doubled batch; Euler; batch 1, fp32",
        f"- {len(lines)} held-out sentences of `{args.manifest}` one at a time, "
        f"{args.threads} threads, after one warm-up sentence",
        "",
        "| NFE | vocoder | RTF (compute s / audio s) | audio s |",
        "|---|---|---|---|",
        *[f"| {n} | {name} | {rtf:.3f} | {audio:.1f} |" for n, name, rtf, audio in rows],
    ]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
