"""`flowvox corpus` and `flowvox prepare`: build a speech corpus, prepare a dataset for training.

Part of the CLI (``flowvox.cli.main`` adds these verbs); the library imports sit inside each
verb so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse

EXAMPLES_CORPUS = """examples:
  flowvox corpus voices
  flowvox corpus build corpus/ --utterances 200
  flowvox corpus build corpus/ --hours 2 --voices flite:rms flite:slt festival:kal_diphone
  flowvox corpus build corpus/ --hours 2      # run again: completes what is missing
"""

EXAMPLES_PREPARE = """examples:
  flowvox prepare corpus/ prepared/                      # folder with manifest.jsonl
  flowvox prepare LJSpeech-1.1/ prepared-lj/ --mel-preset vocos24k
  flowvox prepare my_manifest.jsonl prepared/ --workers 2
"""


def add_corpus_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    corpus = verbs.add_parser(
        "corpus",
        help="build a multi-speaker speech corpus from Debian speech engines",
        description="Build a multi-speaker corpus with flite, festival and espeak-ng voices "
        "speaking WordNet example sentences (held-out sentences never reach training).",
        epilog=EXAMPLES_CORPUS,
        formatter_class=formatter_class,
    )
    actions = corpus.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="synthesise wavs, a manifest and a corpus card into OUT_DIR (resumable)",
        description="Synthesise the corpus into OUT_DIR: wavs/, manifest.jsonl, CORPUS.md. "
        "Deterministic for a seed; a second run completes what is missing.",
        epilog=EXAMPLES_CORPUS,
        formatter_class=formatter_class,
    )
    build.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the corpus into")
    build.add_argument(
        "--voices",
        nargs="+",
        metavar="VOICE",
        help="voices to use (default: the standard set; see `flowvox corpus voices`)",
    )
    build.add_argument(
        "--languages",
        nargs="+",
        metavar="LANG",
        help="languages whose default voices to use, or to keep from --voices (en, es)",
    )
    size = build.add_mutually_exclusive_group(required=True)
    size.add_argument("--utterances", type=int, metavar="N", help="total utterances to build")
    size.add_argument("--hours", type=float, metavar="H", help="total hours of audio to build")
    build.add_argument(
        "--sample-rate",
        type=int,
        default=24000,
        metavar="SR",
        help="output sample rate in Hz (default: 24000)",
    )
    build.add_argument("--seed", type=int, default=0, help="seed for sentence assignment")
    build.add_argument(
        "--workers", type=int, metavar="W", help="parallel workers (default: all cores)"
    )
    build.set_defaults(run=run_corpus_build)
    voices = actions.add_parser("voices", help="list the voices and whether their engine is here")
    voices.set_defaults(run=run_corpus_voices)


def add_prepare_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    prepare = verbs.add_parser(
        "prepare",
        help="compute mel caches, durations, vocab and statistics for a dataset",
        description="Read a dataset (JSONL manifest, LJSpeech-style metadata.csv, or a folder "
        "of wav+txt pairs), and write mel caches, durations, vocab.txt, stats.json and a "
        "report of skipped files into OUT_DIR. Bad audio is skipped and listed; a second "
        "run reuses what is already cached.",
        epilog=EXAMPLES_PREPARE,
        formatter_class=formatter_class,
    )
    prepare.add_argument("source", metavar="DATA_DIR|MANIFEST", help="dataset folder or manifest")
    prepare.add_argument("out_dir", metavar="OUT_DIR", help="folder for the prepared dataset")
    prepare.add_argument(
        "--mel-preset", default="vocos24k", help="vocos24k (default), hifigan22k or lafma16k"
    )
    prepare.add_argument("--workers", type=int, metavar="N", help="parallel audio loaders")
    prepare.set_defaults(run=run_prepare)


def run_corpus_build(args: argparse.Namespace) -> None:
    from flowvox.data.corpus import CorpusConfig, build_corpus

    config = CorpusConfig(
        out_dir=args.out_dir,
        voices=args.voices,
        languages=args.languages,
        utterances=args.utterances,
        hours=args.hours,
        sample_rate=args.sample_rate,
        seed=args.seed,
        workers=args.workers,
    )
    report = build_corpus(config)
    print(report.summary())


def run_corpus_voices(args: argparse.Namespace) -> None:
    from flowvox.data.corpus import format_voice_table, list_voices

    print(format_voice_table(list_voices()))


def run_prepare(args: argparse.Namespace) -> None:
    from flowvox.data import prepare_dataset

    report = prepare_dataset(
        args.source, args.out_dir, mel_preset=args.mel_preset, workers=args.workers
    )
    print(report.summary())
