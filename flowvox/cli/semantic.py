"""`flowvox semantic encode|decode|generate|speak`: audio -> semantic tokens, tokens -> text
(``flowvox.models.semantic.files``), text -> tokens with either T2S family
(``flowvox.models.semantic.t2s_generate``), text -> speech through T2S, S2A and a vocoder
(``flowvox.infer.semantic_speech``)."""

from __future__ import annotations

import argparse

from flowvox.cli.options import (
    add_device_option,
    add_progress_option,
    add_threads_option,
    set_threads,
    text_argument,
)

EXAMPLES_SEMANTIC = """A semantic tokenizer is a model folder trained with `flowvox train`
(task semantic: stage asr, then stage vq from it; configs/semantic-tiny.yaml). Tokens come
at 25 per second, from a codebook of 512 codes plus the mask code 512. No tokenizer is
bundled: pass --model.

examples:
  flowvox semantic encode a.wav b.wav -o tokens.jsonl --model runs/semantic-vq/model
  flowvox semantic decode tokens.jsonl --model runs/semantic-vq/model
  flowvox semantic decode tokens.jsonl --model M -o texts.jsonl
"""


def add_semantic_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    semantic = verbs.add_parser(
        "semantic",
        help="semantic tokens: audio <-> tokens -> text, text -> tokens -> speech",
        description="WhisperSpeech-style semantic tokens (25 Hz, one 512-code book).",
        epilog=EXAMPLES_SEMANTIC,
        formatter_class=formatter_class,
    )
    jobs = semantic.add_subparsers(dest="job", required=True, metavar="JOB")
    encode = jobs.add_parser(
        "encode",
        help="audio files -> a token file (JSONL, one line per file)",
        description="Encode AUDIO files (wav, flac, ogg; any rate) into semantic tokens; "
        "OUT.jsonl is written only when every file has been encoded.",
        epilog=EXAMPLES_SEMANTIC,
        formatter_class=formatter_class,
    )
    encode.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files")
    encode.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", help="token file")
    encode.add_argument("--model", required=True, metavar="DIR", help="semantic tokenizer folder")
    add_device_option(encode)
    add_threads_option(encode)
    encode.set_defaults(run=run_encode)
    decode = jobs.add_parser(
        "decode",
        help="a token file -> text (greedy decoding)",
        description="Decode each line of TOKENS.jsonl to text: printed one per line, or "
        'written to -o OUT.jsonl as {"audio", "text"} lines.',
        epilog=EXAMPLES_SEMANTIC,
        formatter_class=formatter_class,
    )
    decode.add_argument("tokens", metavar="TOKENS.jsonl", help="token file from `encode`")
    decode.add_argument("-o", "--output", metavar="OUT.jsonl", help="write JSONL, not stdout")
    decode.add_argument("--model", required=True, metavar="DIR", help="semantic tokenizer folder")
    add_device_option(decode)
    add_threads_option(decode)
    decode.set_defaults(run=run_decode)
    add_generate_job(jobs, formatter_class)
    add_speak_job(jobs, formatter_class)


def run_encode(args: argparse.Namespace) -> None:
    from flowvox.models.semantic.files import encode_audio_files

    set_threads(args)
    tokens = encode_audio_files(args.audio, args.output, args.model, args.device)
    print(f"{args.output}: {len(args.audio)} files, {tokens} semantic tokens")


def run_decode(args: argparse.Namespace) -> None:
    from flowvox.models.semantic.files import decode_token_file

    set_threads(args)
    texts = decode_token_file(args.tokens, args.model, args.output, args.device)
    if args.output is None:
        for text in texts:
            print(" ".join(text.splitlines()))
    else:
        print(f"{args.output}: {len(texts)} texts")


EXAMPLES_GENERATE = """A T2S model folder is the export of `flowvox train` with task t2s_fm
(flow matching, configs/t2s-fm-tiny.yaml) or t2s_ar (autoregressive, configs/t2s-ar-tiny.yaml),
known by its family stamp; the semantic tokenizer it was trained with sits inside it as
tokenizer/. Flow matching: each line of LINES.txt (blank lines skipped) gets N = 25 · (offset
+ words / words-per-second) tokens and line n's noise is seeded --seed + n. Autoregressive:
each line is decoded until its end token (at most 2 · characters / cps seconds of tokens),
greedily at --temperature 0, else sampled with seed --seed + n. OUT/tokens.jsonl is a token
file: `flowvox semantic decode OUT/tokens.jsonl --model M/tokenizer` reads it back.

examples:
  flowvox semantic generate lines.txt out/ --model runs/t2s-fm-small/model
  flowvox semantic generate lines.txt out/ --model M --nfe 4 --cfg 2 --seed 7 --batch-size 64
  flowvox semantic generate lines.txt out/ --model M --words-per-second 3.0
  flowvox semantic generate lines.txt out/ --model runs/t2s-ar-tiny/model --temperature 0.7
  torchrun --nproc_per_node 8 -m flowvox semantic generate lines.txt out/ --model M --device cuda

Under torchrun or accelerate launch, rank k of W makes batches k, k + W, ... into its own
part; tokens.jsonl is merged when all are done, the file one process writes (docs/bulk.md).
"""


def add_generate_job(jobs: argparse._SubParsersAction, formatter_class: type) -> None:
    generate = jobs.add_parser(
        "generate",
        help="lines of text -> semantic tokens with a T2S model (bulk, resumable)",
        description="Generate semantic tokens for every line of LINES.txt into "
        "OUT_DIR/tokens.jsonl with a T2S-FM or autoregressive T2S model, in batches, with a "
        "progress bar. A rerun keeps the lines already written and makes the rest.",
        epilog=EXAMPLES_GENERATE,
        formatter_class=formatter_class,
    )
    generate.add_argument("lines", metavar="LINES.txt", help="UTF-8 text, one sentence a line")
    generate.add_argument("out_dir", metavar="OUT_DIR", help="folder for tokens.jsonl")
    add_t2s_options(generate)
    generate.add_argument("--batch-size", type=int, default=32, metavar="B", help="lines (32)")
    add_device_option(generate)
    add_threads_option(generate)
    add_progress_option(generate)
    generate.set_defaults(run=run_generate)


def add_t2s_options(parser: argparse.ArgumentParser, flag: str = "--model") -> None:
    """The T2S model folder and the sampling options of either T2S family."""
    parser.add_argument(
        flag, required=True, metavar="DIR", dest="model",
        help="T2S model folder (flow matching or autoregressive)",
    )  # fmt: skip
    parser.add_argument(
        "--tokenizer", metavar="DIR", help="semantic tokenizer folder (default: DIR/tokenizer)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="line n: S + n (0)")
    flow = parser.add_argument_group("flow-matching T2S")
    flow.add_argument("--nfe", type=int, metavar="N", help="solver steps (8)")
    flow.add_argument(
        "--cfg", type=float, metavar="W",
        help="guidance u = u_u + W (u_c - u_u), 1 off (default: the model's)",
    )  # fmt: skip
    flow.add_argument(
        "--solver", choices=("euler", "midpoint", "rk4"), help="fixed-step ODE solver (euler)"
    )
    flow.add_argument(
        "--words-per-second", type=float, metavar="R", help="speaking rate of the length rule"
    )
    flow.add_argument("--frames", type=int, metavar="N", help="N tokens for every line")
    ar = parser.add_argument_group("autoregressive T2S")
    ar.add_argument(
        "--temperature", type=float, metavar="T", help="0: greedy (default); > 0: sampled"
    )
    ar.add_argument("--top-k", type=int, metavar="K", help="sample among the K likeliest codes")
    ar.add_argument(
        "--cps", type=float, metavar="R",
        help="characters per second condition (default: the model's training median)",
    )  # fmt: skip


def t2s_settings(args: argparse.Namespace, batch_size: int = 32):
    """``GenerateSettings`` from the options of ``add_t2s_options`` (checked now)."""
    from flowvox.models.semantic.t2s_fm_generate import GenerateSettings

    return GenerateSettings(
        nfe=args.nfe, cfg=args.cfg, seed=args.seed, batch_size=batch_size,
        solver=args.solver, words_per_second=args.words_per_second, frames=args.frames,
        temperature=args.temperature, top_k=args.top_k, cps=args.cps,
    )  # fmt: skip


def run_generate(args: argparse.Namespace) -> None:
    from flowvox.models.semantic.t2s_generate import generate_tokens_file
    from flowvox.utils.distributed import launch_from_env, rank_device

    set_threads(args)
    settings = t2s_settings(args, args.batch_size)
    launch = launch_from_env()
    report = generate_tokens_file(
        args.lines, args.out_dir, args.model, settings, args.tokenizer,
        rank_device(args.device, launch), progress=not args.no_progress, launch=launch,
    )  # fmt: skip
    print(report.summary())


EXAMPLES_SPEAK = """TEXT -> a T2S model (--t2s: flow matching or autoregressive, by its
stamp) -> semantic codes -> the S2A model (--s2a: task s2a, configs/s2a-tiny.yaml) in the
voice of --ref -> mel -> --vocoder (a vocoder folder for the S2A's mel preset; default
Griffin-Lim). Both models must have been trained against the same semantic tokenizer. The
T2S options are those of `flowvox semantic generate` (--seed also seeds the S2A noise);
the S2A ones start with --s2a-. "-" reads TEXT from stdin.

examples:
  flowvox semantic speak "Hello there." -o hello.wav --t2s runs/t2s-fm-small/model \\
      --s2a runs/s2a-small/model --vocoder runs/vocoder/model --ref me.wav
  flowvox semantic speak "Hello there." -o h.wav --t2s runs/t2s-ar-small/model --s2a S \\
      --temperature 0.7 --s2a-nfe 32 --s2a-cfg 2 --seed 3
"""


def add_speak_job(jobs: argparse._SubParsersAction, formatter_class: type) -> None:
    speak = jobs.add_parser(
        "speak",
        help="text -> T2S -> semantic codes -> S2A -> vocoder -> an audio file",
        description="Say TEXT into OUT (.wav, .flac or .ogg) through a T2S model, an S2A "
        "model and a vocoder; nothing is written unless every step succeeds.",
        epilog=EXAMPLES_SPEAK,
        formatter_class=formatter_class,
    )
    speak.add_argument("text", metavar="TEXT", help='the words to say, or "-" to read stdin')
    speak.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="audio file")
    add_t2s_options(speak, "--t2s")
    speak.add_argument("--s2a", required=True, metavar="DIR", help="S2A model folder")
    speak.add_argument("--vocoder", metavar="DIR", help="vocoder folder, or griffin-lim (default)")
    speak.add_argument("--ref", metavar="WAV", help="voice prompt: a few seconds of speech")
    s2a = speak.add_argument_group("S2A sampling")
    s2a.add_argument("--s2a-nfe", type=int, default=16, metavar="N", help="ODE steps (16)")
    s2a.add_argument(
        "--s2a-cfg", type=float, metavar="W",
        help="guidance v = v_c + W (v_c - v_u), 0 off (default: the model's)",
    )  # fmt: skip
    s2a.add_argument("--sway", type=float, default=-1.0, metavar="S", help="sway of the grid (-1)")
    s2a.add_argument(
        "--s2a-solver", default="euler", choices=("euler", "midpoint", "rk4"),
        help="fixed-step ODE solver (euler)",
    )  # fmt: skip
    add_device_option(speak)
    add_threads_option(speak)
    speak.set_defaults(run=run_speak)


def run_speak(args: argparse.Namespace) -> None:
    from flowvox.infer.semantic_speech import S2ASettings, speak_semantic_to_file

    set_threads(args)
    text = text_argument(args.text)
    s2a = S2ASettings(args.s2a_nfe, args.s2a_cfg, args.sway, args.s2a_solver)
    report = speak_semantic_to_file(
        text, args.output, args.model, args.s2a, args.vocoder, args.ref,
        t2s_settings(args), s2a, args.tokenizer, args.device,
    )  # fmt: skip
    print(report.summary())
