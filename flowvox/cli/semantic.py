"""`flowvox semantic encode|decode|generate`: audio -> semantic tokens, tokens -> text
(``flowvox.models.semantic.files``), text -> tokens with T2S-FM
(``flowvox.models.semantic.t2s_fm_generate``)."""

from __future__ import annotations

import argparse

from flowvox.cli.options import (
    add_device_option,
    add_progress_option,
    add_threads_option,
    set_threads,
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
        help="semantic tokens: audio -> tokens, tokens -> text, text -> tokens (T2S-FM)",
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


EXAMPLES_GENERATE = """A T2S-FM model folder is the export of `flowvox train` with task t2s_fm
(configs/t2s-fm-tiny.yaml); the semantic tokenizer it was trained with sits inside it as
tokenizer/. Each line of LINES.txt (blank lines skipped) gets N = 25 · (offset + words /
words-per-second) tokens; line n's noise is seeded --seed + n. OUT/tokens.jsonl is a token
file: `flowvox semantic decode OUT/tokens.jsonl --model M/tokenizer` reads it back.

examples:
  flowvox semantic generate lines.txt out/ --model runs/t2s-fm-small/model
  flowvox semantic generate lines.txt out/ --model M --nfe 4 --cfg 2 --seed 7 --batch-size 64
  flowvox semantic generate lines.txt out/ --model M --words-per-second 3.0
"""


def add_generate_job(jobs: argparse._SubParsersAction, formatter_class: type) -> None:
    generate = jobs.add_parser(
        "generate",
        help="lines of text -> semantic tokens with a T2S-FM model (bulk, resumable)",
        description="Generate semantic tokens for every line of LINES.txt into "
        "OUT_DIR/tokens.jsonl, in batches, with a progress bar. A rerun keeps the lines "
        "already written and makes the rest.",
        epilog=EXAMPLES_GENERATE,
        formatter_class=formatter_class,
    )
    generate.add_argument("lines", metavar="LINES.txt", help="UTF-8 text, one sentence a line")
    generate.add_argument("out_dir", metavar="OUT_DIR", help="folder for tokens.jsonl")
    generate.add_argument("--model", required=True, metavar="DIR", help="T2S-FM model folder")
    generate.add_argument(
        "--tokenizer", metavar="DIR", help="semantic tokenizer folder (default: DIR/tokenizer)"
    )
    generate.add_argument("--nfe", type=int, default=8, metavar="N", help="solver steps (8)")
    generate.add_argument(
        "--cfg", type=float, metavar="W",
        help="guidance u = u_u + W (u_c - u_u), 1 off (default: the model's)",
    )  # fmt: skip
    generate.add_argument("--seed", type=int, default=0, metavar="S", help="line n: S + n (0)")
    generate.add_argument("--batch-size", type=int, default=32, metavar="B", help="lines (32)")
    generate.add_argument(
        "--solver", default="euler", choices=("euler", "midpoint", "rk4"),
        help="fixed-step ODE solver (euler)",
    )  # fmt: skip
    generate.add_argument(
        "--words-per-second", type=float, metavar="R", help="speaking rate of the length rule"
    )
    generate.add_argument("--frames", type=int, metavar="N", help="N tokens for every line")
    add_device_option(generate)
    add_threads_option(generate)
    add_progress_option(generate)
    generate.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> None:
    from flowvox.models.semantic.t2s_fm_generate import GenerateSettings, generate_tokens_file

    set_threads(args)
    settings = GenerateSettings(
        nfe=args.nfe, cfg=args.cfg, seed=args.seed, batch_size=args.batch_size,
        solver=args.solver, words_per_second=args.words_per_second, frames=args.frames,
    )  # fmt: skip
    report = generate_tokens_file(
        args.lines, args.out_dir, args.model, settings, args.tokenizer, args.device,
        progress=not args.no_progress,
    )  # fmt: skip
    print(report.summary())
