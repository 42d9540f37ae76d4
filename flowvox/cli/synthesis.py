"""`flowvox speak` and `flowvox generate`: their flags, and the one library call each makes.

Part of the CLI (``flowvox.cli.main`` adds these verbs); the library imports sit inside each
verb so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse

from flowvox.cli.options import (
    add_device_option,
    add_progress_option,
    add_threads_option,
    set_threads,
    text_argument,
)
from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import check_output_file, check_output_folder

EXAMPLES_SPEAK = """examples:
  flowvox speak "Hello there." -o hello.wav --model runs/infill-tiny/model
  flowvox speak "Hello there." -o me.wav --model M --ref-audio me.wav --ref-text "What I said."
  cat chapter.txt | flowvox speak - -o chapter.flac --model M --nfe 16 --epss
  flowvox speak "Quick draft." -o d.wav --model M --nfe 8 --solver midpoint --seed 1 --stream

Without --ref-text the reference clip is transcribed with pocketsphinx (English).
Without --vocoder the model folder's vocoder is used if it names one, else Griffin-Lim.
"""

EXAMPLES_GENERATE = """SOURCE: a text file (one utterance per line, blank lines skipped), or a
.jsonl manifest whose lines hold "text" and optionally "id", "ref_audio", "ref_text",
"speaker", "language" (--ref-audio/--ref-text serve lines that name no reference).
OUT_DIR gets wavs/<id>.wav and manifest.jsonl (ready for `flowvox prepare`). Run the
same command again to finish an interrupted run: finished ids are skipped. With --seed S
each line gets its own noise, seed S + crc32(id), the same whatever its batch. Lines
the model cannot say are listed and the exit status is 1; a rerun retries them.

examples:
  flowvox generate lines.txt out/ --model runs/infill-tiny/model --ref-audio me.wav
  flowvox generate prompts.jsonl out/ --model M --nfe 16 --epss --batch-frames 20000
  torchrun --nproc_per_node 8 -m flowvox generate lines.txt out/ --model M --device cuda

Under torchrun or accelerate launch each process (one GPU each: cuda:LOCAL_RANK) makes
every WORLD_SIZE-th batch; the wavs and manifest.jsonl are those of one process.
Several nodes: docs/bulk.md (out/ must be on a filesystem they share).
"""


def add_synthesis_options(parser: argparse.ArgumentParser) -> None:
    """Model, reference and sampling options shared by `speak` and `generate`."""
    parser.add_argument("--model", metavar="DIR", help="model folder (config.json + weights)")
    parser.add_argument(
        "--vocoder",
        metavar="DIR",
        help="vocoder folder, or griffin-lim (default: the model's vocoder, else Griffin-Lim)",
    )
    parser.add_argument("--ref-audio", metavar="WAV", help="voice prompt: 0.5-12 s of speech")
    parser.add_argument(
        "--voice", metavar="NAME",
        help="a named voice of the model (see `flowvox voices`); default: the model's own",
    )  # fmt: skip
    parser.add_argument(
        "--ref-text", metavar="TEXT", help="what --ref-audio says (default: transcribed)"
    )
    own = "the model's sampling.json, else"
    parser.add_argument("--nfe", type=int, metavar="N", help=f"ODE steps (default: {own} 32)")
    parser.add_argument(
        "--cfg", type=float, metavar="W",
        help=f"classifier-free guidance weight, 0 = off (default: {own} 2.0)",
    )  # fmt: skip
    parser.add_argument(
        "--sway", type=float, metavar="S",
        help=f"sway sampling coefficient of the time grid (default: {own} -1.0)",
    )  # fmt: skip
    parser.add_argument(
        "--solver", choices=("euler", "midpoint", "rk4"),
        help=f"ODE solver (default: {own} euler)",
    )  # fmt: skip
    parser.add_argument(
        "--epss", action="store_true",
        help="F5's empirically pruned step grid for NFE 5, 6, 7, 10, 12 or 16, with --sway on "
        "top as f5-tts does (--sway 0: EPSS alone); another NFE keeps the uniform grid",
    )  # fmt: skip
    parser.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="speaking rate factor (default: 1)"
    )
    parser.add_argument(
        "--duration", type=float, metavar="SEC",
        help="seconds of generated speech (default: from the text length)",
    )  # fmt: skip
    parser.add_argument(
        "--pitch-shift", type=float, default=0.0, metavar="ST",
        help="semitones to raise (or lower, < 0) the voice; FastPitch models only (default: 0)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, metavar="N", help="seed for reproducible output")
    add_device_option(parser)
    parser.add_argument(
        "--precision", choices=("fp32", "bf16", "int8"), default="fp32",
        help="bf16: the acoustic model's matrix products in bfloat16, about 2x faster on CPUs "
        "with AVX-512 BF16/AMX and on GPUs; int8 (CPU only): its linear layers, except those "
        "that set durations, dynamically quantised to int8 (default: fp32)",
    )  # fmt: skip
    add_threads_option(parser)


def add_speak_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    speak = verbs.add_parser(
        "speak",
        help="say TEXT in a voice into an audio file",
        description='Synthesize TEXT ("-" reads stdin; long text is split into chunks) '
        "into OUT (.wav, .flac or .ogg), in the voice of --ref-audio if given.",
        epilog=EXAMPLES_SPEAK,
        formatter_class=formatter_class,
    )
    speak.add_argument("text", metavar="TEXT", help='the words to say, or "-" to read stdin')
    speak.add_argument(
        "-o", "--output", required=True, metavar="OUT.wav", help="audio file to write"
    )
    add_synthesis_options(speak)
    speak.add_argument(
        "--stream", action="store_true", help="write the audio chunk by chunk as it is made"
    )
    speak.add_argument(
        "--backend", choices=("torch", "onnx"), default="torch",
        help="onnx: the ODE's velocity and the vocoder in onnxruntime (CPU), for a folder "
        "written by `flowvox export-onnx` (default: torch)",
    )  # fmt: skip
    speak.set_defaults(run=run_speak)


def add_generate_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    generate = verbs.add_parser(
        "generate",
        help="bulk, batched synthesis of many lines into a folder (resumable)",
        description="Speak every line of SOURCE into OUT_DIR, batching lines of similar "
        "length, with a progress bar. A rerun skips what is done.",
        epilog=EXAMPLES_GENERATE,
        formatter_class=formatter_class,
    )
    generate.add_argument("source", metavar="SOURCE", help="text file or .jsonl manifest")
    generate.add_argument("out_dir", metavar="OUT_DIR", help="folder for wavs and manifest")
    add_synthesis_options(generate)
    generate.add_argument(
        "--batch-frames", type=int, default=None, metavar="N",
        help="padded mel frames per batch, reference included (default: 2000 on CPU, "
        "8000 on GPU)",
    )  # fmt: skip
    add_progress_option(generate)
    generate.set_defaults(run=run_generate)


def add_voices_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    voices = verbs.add_parser(
        "voices",
        help="list the named voices of a model (the bundled one by default)",
        description="List the voices `--voice NAME` can pick: the prompts packed with a "
        "model folder (`flowvox pack`), and which one speaks by default.",
        formatter_class=formatter_class,
    )
    voices.add_argument("--model", metavar="DIR", help="model folder (default: the bundled one)")
    voices.set_defaults(run=run_voices)


def run_voices(args: argparse.Namespace) -> None:
    from pathlib import Path

    from flowvox.infer.model_dir import (
        MODEL_ENV,
        bundled_model_dir,
        default_reference,
        named_voices,
        sampling_defaults,
    )

    folder = Path(args.model) if args.model else bundled_model_dir()
    if folder is None:
        raise FlowvoxError(
            f"no bundled default voice in this install; pass --model DIR or set {MODEL_ENV}"
        )
    if not folder.is_dir():
        raise FlowvoxError(f"--model {folder}: no such folder")
    voices, default = named_voices(folder)
    fallback = default_reference(folder)
    sampling = sampling_defaults(folder)
    if sampling:
        print("sampling defaults: " + ", ".join(f"--{k} {v}" for k, v in sampling.items()))
    if not voices:
        own = f"its reference.wav ({fallback[0]})" if fallback else "none: pass --ref-audio"
        print(f"{folder}: no named voices; default prompt: {own}")
        return
    for name, (wav, text) in sorted(voices.items()):
        mark = "*" if name == default else " "
        print(f"{mark} {name:28s} {wav.name}  {text or '(transcribed when used)'}")
    print(f"(* speaks when no --voice or --ref-audio is given; model: {folder})")


def synthesis_overrides(args: argparse.Namespace) -> dict:
    """The ``SynthesisOptions`` fields the flags give (``--threads`` applied); the model's
    ``sampling.json`` fills the sampling flags left out (``Synthesizer.default_options``).
    Values are checked here, before a model loads."""
    from flowvox.infer.model_dir import SAMPLING_KEYS
    from flowvox.infer.options import SynthesisOptions

    set_threads(args)
    overrides = {key: getattr(args, key) for key in SAMPLING_KEYS if getattr(args, key) is not None}
    overrides.update(
        epss=args.epss,
        speed=args.speed,
        duration=args.duration,
        seed=args.seed,
        pitch_shift=args.pitch_shift,
        precision=args.precision,
    )
    SynthesisOptions(**overrides)  # a bad value fails now, in one line
    return overrides


def run_speak(args: argparse.Namespace) -> None:
    from flowvox.infer.files import speak_to_file

    check_output_file(args.output)
    text = text_argument(args.text)
    report = speak_to_file(
        text,
        args.output,
        model=args.model,
        vocoder=args.vocoder,
        device=args.device,
        ref_audio=args.ref_audio,
        ref_text=args.ref_text,
        options=synthesis_overrides(args),
        stream=args.stream,
        voice=args.voice,
        backend=args.backend,
    )
    print(report.summary())


def run_generate(args: argparse.Namespace) -> int:
    """Exit status 1 when some lines failed (they are listed; a rerun retries them)."""
    from flowvox.infer.files import generate_to_folder
    from flowvox.utils.distributed import launch_from_env, rank_device

    check_output_folder(args.out_dir)
    launch = launch_from_env()
    report = generate_to_folder(
        args.source,
        args.out_dir,
        model=args.model,
        vocoder=args.vocoder,
        device=rank_device(args.device, launch),
        ref_audio=args.ref_audio,
        ref_text=args.ref_text,
        options=synthesis_overrides(args),
        batch_frames=args.batch_frames,
        progress=not args.no_progress,
        voice=args.voice,
        launch=launch,
    )
    print(report.summary())
    return 1 if report.failed else 0
