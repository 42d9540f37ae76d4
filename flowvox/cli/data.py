"""`flowvox corpus` and `flowvox prepare`: build a speech corpus, prepare a dataset for training.

Part of the CLI (``flowvox.cli.main`` adds these verbs); the library imports sit inside each
verb so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse

from flowvox.utils.atomic import check_output_folder

EXAMPLES_CORPUS = """examples:
  flowvox corpus voices
  flowvox corpus build corpus/ --utterances 200
  flowvox corpus build corpus/ --hours 2 --voices flite:rms flite:slt festival:kal_diphone
  flowvox corpus build corpus/ --hours 2      # run again: completes what is missing
  flowvox corpus build many/ --hours 10 --pseudo-speakers 20  # 21 speakers per voice
  flowvox corpus sounds sounds/ --clips 2000  # captioned sound clips for text-to-audio
"""

EXAMPLES_SOUNDS = """examples:
  flowvox corpus sounds sounds/ --clips 2000
  flowvox corpus sounds sounds/ --clips 4000  # again, more clips: adds clips 2000-3999
  flowvox corpus sounds short/ --clips 200 --seconds 4 --seed 1 --workers 2
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
        "--pseudo-speakers",
        type=int,
        default=0,
        metavar="K",
        help="add K voice-changed speakers per voice (pitch, formants, tilt, rate from a "
        "seed; about 10%% of them held out in test_unseen); default: 0",
    )
    build.add_argument(
        "--workers", type=int, metavar="W", help="parallel workers (default: all cores)"
    )
    build.set_defaults(run=run_corpus_build)
    sounds = actions.add_parser(
        "sounds",
        help="render captioned sound clips (tones, beeps, noise, sweeps, speech) into OUT_DIR",
        description="Render captioned 16 kHz sound clips into OUT_DIR: wavs/, manifest.jsonl "
        "(caption, attributes, events), SOUNDS.md. Some attribute combinations are held out "
        "(split test_unseen). Deterministic for a seed; a second run completes what is missing.",
        epilog=EXAMPLES_SOUNDS,
        formatter_class=formatter_class,
    )
    sounds.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the clips into")
    sounds.add_argument("--clips", type=int, required=True, metavar="N", help="clips to build")
    sounds.add_argument("--seed", type=int, default=0, help="seed for what the clips hold")
    sounds.add_argument(
        "--seconds",
        type=float,
        default=10.24,
        metavar="S",
        help="length of every clip (default: 10.24 = 1024 frames of hop 160 at 16 kHz)",
    )
    sounds.add_argument(
        "--workers", type=int, metavar="W", help="parallel workers (default: all cores)"
    )
    sounds.set_defaults(run=run_corpus_sounds)
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
        "--mel-preset",
        default="vocos24k",
        help="vocos24k (default), hifigan22k, lafma16k or whisper16k",
    )
    prepare.add_argument("--workers", type=int, metavar="N", help="parallel audio loaders")
    prepare.set_defaults(run=run_prepare)


def run_corpus_build(args: argparse.Namespace) -> None:
    from flowvox.data.corpus import CorpusConfig, build_corpus

    check_output_folder(args.out_dir)
    config = CorpusConfig(
        out_dir=args.out_dir,
        voices=args.voices,
        languages=args.languages,
        utterances=args.utterances,
        hours=args.hours,
        sample_rate=args.sample_rate,
        seed=args.seed,
        workers=args.workers,
        pseudo_speakers=args.pseudo_speakers,
    )
    report = build_corpus(config)
    print(report.summary())


def run_corpus_sounds(args: argparse.Namespace) -> int | None:
    from flowvox.data.sounds import SoundCorpusConfig, build_sound_corpus

    check_output_folder(args.out_dir)
    config = SoundCorpusConfig(
        out_dir=args.out_dir,
        clips=args.clips,
        seed=args.seed,
        seconds=args.seconds,
        workers=args.workers,
    )
    report = build_sound_corpus(config)
    print(report.summary())
    return 1 if report.failed else None


def run_corpus_voices(args: argparse.Namespace) -> None:
    from flowvox.data.corpus import format_voice_table, list_voices

    print(format_voice_table(list_voices()))


def run_prepare(args: argparse.Namespace) -> None:
    from flowvox.data import prepare_dataset

    check_output_folder(args.out_dir)
    report = prepare_dataset(
        args.source, args.out_dir, mel_preset=args.mel_preset, workers=args.workers
    )
    print(report.summary())
