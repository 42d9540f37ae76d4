"""`flowvox <verb>`: parse arguments, call one library function, print a short summary.

User mistakes (``FlowvoxError``) print one line to stderr and exit with status 2; a bulk
verb whose items partly failed exits with 1; Ctrl-C exits with 130. The library imports sit
inside each verb so that ``--help`` stays fast. `speak` and `generate` live in
``flowvox.cli.synthesis``, `score` and `reflow` in ``flowvox.cli.score_reflow``, `eval` in
``flowvox.cli.eval``, `vocode` in ``flowvox.cli.vocode``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence

from flowvox import __version__
from flowvox.cli.bench import add_bench_parser
from flowvox.cli.convert import add_convert_parser
from flowvox.cli.eval import add_eval_parser
from flowvox.cli.pack import add_pack_parser
from flowvox.cli.score_reflow import add_reflow_parser, add_score_parser
from flowvox.cli.synthesis import add_generate_parser, add_speak_parser, add_voices_parser
from flowvox.cli.vocode import add_vocode_parser
from flowvox.errors import FlowvoxError


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps text with line breaks (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


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


EXAMPLES_TRAIN = """a run file (YAML) names the task, the output folder and the options
(see configs/ for complete ones: infill-tiny.yaml, vocoder-tiny.yaml, ...):

  task: infill_tts              # infill_tts, vocoder, or a 'package.module:ClassName'
  out_dir: runs/infill-tiny     # default: runs/<file name without .yaml>
  train:                        # the shared trainer (flowvox.train.TrainConfig)
    max_steps: 2000
    lr: 1.0e-3
    warmup_steps: 100
    max_frames: 3000            # padded frames per batch, per process
    checkpoint_every: 500
  model: tiny                   # every other key belongs to the task
  data: {prepared: prepared/}

outputs, under out_dir:
  checkpoints/step-XXXXXXX/     the newest checkpoints (weights, EMA, optimiser, RNG state)
  tensorboard/                  scalars and media: tensorboard --logdir OUT_DIR/tensorboard
  model/                        the exported model (EMA weights + config.json), for `speak`

examples:
  flowvox train configs/infill-tiny.yaml --set data.prepared=prepared/
  flowvox train configs/infill-tiny.yaml --set train.lr=5e-4 train.max_steps=4000
  flowvox train configs/infill-tiny.yaml --resume            # continue the newest checkpoint
  flowvox train run.yaml --resume --set train.time_limit_minutes=25   # a 25-minute slice
  flowvox train run.yaml --resume --stop-at-step 8000   # stop there, schedule unchanged
  accelerate launch --num_processes 4 -m flowvox train run.yaml   # DDP on 4 GPUs
  torchrun --nproc_per_node 2 -m flowvox train run.yaml
"""

EXAMPLES_EXPORT = """examples:
  flowvox export runs/infill-tiny/checkpoints/step-0000500 models/tiny-500
  flowvox speak "Hello." -o hello.wav --model models/tiny-500 --ref-audio me.wav
"""


def add_train_parser(verbs: argparse._SubParsersAction) -> None:
    train = verbs.add_parser(
        "train",
        help="train a model from a run file (one process, DDP or FSDP; resumable)",
        description="Train the task a run file names, on one process or many (launch with "
        "accelerate launch or torchrun for DDP/FSDP). Checkpoints are written every "
        "train.checkpoint_every steps; --resume continues the newest one exactly.",
        epilog=EXAMPLES_TRAIN,
        formatter_class=HelpFormatter,
    )
    train.add_argument("config", metavar="CONFIG.yaml", help="the run file")
    train.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override values of the run file, dotted keys: train.lr=1e-4 model.depth=4",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in out_dir"
    )
    train.add_argument(
        "--stop-at-step", type=int, metavar="N",
        help="stop at step N (checkpoint + export) with the lr schedule still that of "
        "train.max_steps; --resume continues later",
    )  # fmt: skip
    train.set_defaults(run=run_train)


def add_export_parser(verbs: argparse._SubParsersAction) -> None:
    export = verbs.add_parser(
        "export",
        help="turn a training checkpoint into a model folder (EMA weights + config.json)",
        description="Write the EMA weights and config of a training checkpoint folder as a "
        "model folder that `flowvox speak --model` reads.",
        epilog=EXAMPLES_EXPORT,
        formatter_class=HelpFormatter,
    )
    export.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="OUT/checkpoints/step-N")
    export.add_argument("out_dir", metavar="OUT_DIR", help="the model folder to write")
    export.set_defaults(run=run_export)


def add_corpus_parser(verbs: argparse._SubParsersAction) -> None:
    corpus = verbs.add_parser(
        "corpus",
        help="build a multi-speaker speech corpus from Debian speech engines",
        description="Build a multi-speaker corpus with flite, festival and espeak-ng voices "
        "speaking WordNet example sentences (held-out sentences never reach training).",
        epilog=EXAMPLES_CORPUS,
        formatter_class=HelpFormatter,
    )
    actions = corpus.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="synthesise wavs, a manifest and a corpus card into OUT_DIR (resumable)",
        description="Synthesise the corpus into OUT_DIR: wavs/, manifest.jsonl, CORPUS.md. "
        "Deterministic for a seed; a second run completes what is missing.",
        epilog=EXAMPLES_CORPUS,
        formatter_class=HelpFormatter,
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


def add_prepare_parser(verbs: argparse._SubParsersAction) -> None:
    prepare = verbs.add_parser(
        "prepare",
        help="compute mel caches, durations, vocab and statistics for a dataset",
        description="Read a dataset (JSONL manifest, LJSpeech-style metadata.csv, or a folder "
        "of wav+txt pairs), and write mel caches, durations, vocab.txt, stats.json and a "
        "report of skipped files into OUT_DIR. Bad audio is skipped and listed; a second "
        "run reuses what is already cached.",
        epilog=EXAMPLES_PREPARE,
        formatter_class=HelpFormatter,
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


def run_train(args: argparse.Namespace) -> None:
    from flowvox.train import train_from_config

    result = train_from_config(
        args.config, args.overrides, resume=args.resume, stop_at_step=args.stop_at_step
    )
    if os.environ.get("RANK", "0") == "0":  # one summary under torchrun / accelerate launch
        skipped = sum(result.skipped.values())
        print(
            f"trained to step {result.step} in {result.train_seconds / 3600:.2f} h "
            f"({result.frames_per_second:.0f} frames/s"
            + (f", {skipped} updates skipped for NaN/inf" if skipped else "")
            + f"); model in {result.export_dir}, checkpoint {result.checkpoint_dir}"
        )


def run_export(args: argparse.Namespace) -> None:
    from flowvox.train import export_checkpoint

    print(f"wrote {export_checkpoint(args.checkpoint, args.out_dir)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowvox",
        description="flowvox: flow-matching speech generation. Each verb has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"flowvox {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    add_speak_parser(verbs, HelpFormatter)
    add_generate_parser(verbs, HelpFormatter)
    add_voices_parser(verbs, HelpFormatter)
    add_train_parser(verbs)
    add_export_parser(verbs)
    add_corpus_parser(verbs)
    add_prepare_parser(verbs)
    add_score_parser(verbs, HelpFormatter)
    add_reflow_parser(verbs, HelpFormatter)
    add_bench_parser(verbs, HelpFormatter)
    add_pack_parser(verbs, HelpFormatter)
    add_convert_parser(verbs, HelpFormatter)
    add_vocode_parser(verbs, HelpFormatter)
    add_eval_parser(verbs, HelpFormatter)
    return parser


@contextlib.contextmanager
def one_line_messages() -> Iterator[None]:
    """While a verb runs, library warnings (``warnings`` and the ``flowvox`` logger) print
    as one stderr line each: ``flowvox: warning: ...``."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"flowvox: warning: {_one_line(str(message))}", file=sys.stderr)

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            show(record.getMessage(), None, "", 0)

    logger = logging.getLogger("flowvox")
    handler, propagate = Handler(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _one_line(text: str) -> str:
    return " ".join(text.split("\n"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with one_line_messages():
            code = args.run(args)  # None: success; a verb may return 1 for partial failure
    except FlowvoxError as err:
        print(f"flowvox: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "flowvox: interrupted (finished files are kept; run again to continue)", file=sys.stderr
        )
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
