"""`flowvox pack`: a model folder made ready to ship (half-precision weights, its vocoder,
named voice prompts). Part of the CLI (``flowvox.cli.main`` adds the verb)."""

from __future__ import annotations

import argparse

EXAMPLES = """A packed folder is what `flowvox speak --model DIR` (or the bundled
flowvox/default_voice/) reads: `--voice NAME` picks one of its prompts; with no flag its
default voice speaks. `flowvox voices --model DIR` lists them.

examples:
  flowvox pack runs/voice-en7/model packed/ --vocoder runs/vocos/model \\
      --voices-from data/prepared-en7/train.jsonl --default flite-rms --nfe 8 --cfg 0.7
  flowvox pack M packed/ --voice me=me.wav:"What I said." --voice other=other.wav
"""


def add_pack_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    pack = verbs.add_parser(
        "pack",
        help="make a model folder ready to ship: fp16 weights, vocoder, named voices",
        description="Copy MODEL_DIR into OUT_DIR with float16 weights, the vocoder inside "
        "and voice prompts named for --voice; the result is loaded back before it is kept.",
        epilog=EXAMPLES,
        formatter_class=formatter_class,
    )
    pack.add_argument("model", metavar="MODEL_DIR", help="a trained model folder")
    pack.add_argument("out", metavar="OUT_DIR", help="new folder to write")
    pack.add_argument("--vocoder", metavar="DIR", help="vocoder folder to put inside")
    pack.add_argument(
        "--voice", action="append", default=[], metavar="NAME=WAV[:TEXT]",
        help="a named prompt (repeatable); without TEXT it is transcribed when used",
    )  # fmt: skip
    pack.add_argument(
        "--voices-from", metavar="MANIFEST",
        help="one prompt per speaker of a JSONL manifest (its utterance nearest 5 s of 3-8 s)",
    )  # fmt: skip
    pack.add_argument("--default", metavar="NAME", help="the voice that speaks by default")
    pack.add_argument("--no-half", action="store_true", help="keep float32 weights")
    pack.add_argument("--nfe", type=int, metavar="N", help="the model's default ODE steps")
    pack.add_argument("--cfg", type=float, metavar="W", help="the model's default CFG weight")
    pack.add_argument("--sway", type=float, metavar="S", help="the model's default sway")
    pack.add_argument(
        "--solver", choices=("euler", "midpoint", "rk4"), help="the model's default ODE solver"
    )
    pack.set_defaults(run=run_pack)


def parse_voice(spec: str) -> tuple[str, tuple]:
    """ "NAME=WAV[:TEXT]" -> (NAME, (Path(WAV), TEXT or None))."""
    from pathlib import Path

    from flowvox.errors import FlowvoxError

    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise FlowvoxError(f"--voice {spec!r}: expected NAME=WAV or NAME=WAV:TEXT")
    wav, _, text = rest.partition(":")
    if not Path(wav).is_file():
        raise FlowvoxError(f"--voice {spec!r}: {wav} is not a file")
    return name, (Path(wav), text.strip() or None)


def run_pack(args: argparse.Namespace) -> None:
    from flowvox.infer.pack import pack_model, voices_from_manifest

    voices = voices_from_manifest(args.voices_from) if args.voices_from else {}
    voices.update(parse_voice(spec) for spec in args.voice)
    from flowvox.infer.model_dir import SAMPLING_KEYS

    sampling = {k: getattr(args, k) for k in SAMPLING_KEYS if getattr(args, k) is not None}
    report = pack_model(
        args.model, args.out, args.vocoder, voices, args.default, not args.no_half, sampling
    )
    print(report.summary())
