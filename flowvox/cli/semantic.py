"""`flowvox semantic encode|decode`: audio -> semantic tokens, tokens -> text
(``flowvox.models.semantic.files``)."""

from __future__ import annotations

import argparse

from flowvox.cli.options import add_device_option, add_threads_option, set_threads

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
        help="semantic tokens: audio -> tokens, tokens -> text",
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
