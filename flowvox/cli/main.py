"""`flowvox <verb>`: build the parser from the verb modules, run one verb, map errors to exits.

Each verb group has its module in ``flowvox.cli`` (``synthesis``: speak, generate, voices;
``train``: train, export; ``onnx``: export-onnx; ``data``: corpus, prepare;
``score_reflow``: score, reflow; ``bench``, ``pack``, ``convert``, ``vocode``, ``eval``,
``sound``, ``semantic``, ``serve``); a verb
parses its flags and calls one library function. User mistakes (``FlowvoxError``; a
``--device`` this machine lacks, checked here for every verb) and a full disk print one line
to stderr and exit with status 2; a bulk verb whose items partly failed exits with 1; Ctrl-C
exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence

from flowvox import __version__
from flowvox.cli.bench import add_bench_parser
from flowvox.cli.convert import add_convert_parser
from flowvox.cli.data import add_corpus_parser, add_prepare_parser
from flowvox.cli.eval import add_eval_parser
from flowvox.cli.help import HelpFormatter, Parser
from flowvox.cli.onnx import add_export_onnx_parser
from flowvox.cli.options import check_device_option
from flowvox.cli.pack import add_pack_parser
from flowvox.cli.score_reflow import add_reflow_parser, add_score_parser
from flowvox.cli.semantic import add_semantic_parser
from flowvox.cli.serve import add_serve_parser
from flowvox.cli.sound import add_sound_parser
from flowvox.cli.synthesis import add_generate_parser, add_speak_parser, add_voices_parser
from flowvox.cli.train import add_export_parser, add_train_parser
from flowvox.cli.vocode import add_vocode_parser
from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import disk_full_reason


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="flowvox",
        description="flowvox: flow-matching speech generation. Each verb has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"flowvox {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    add_speak_parser(verbs, HelpFormatter)
    add_generate_parser(verbs, HelpFormatter)
    add_voices_parser(verbs, HelpFormatter)
    add_sound_parser(verbs, HelpFormatter)
    add_semantic_parser(verbs, HelpFormatter)
    add_train_parser(verbs, HelpFormatter)
    add_export_parser(verbs, HelpFormatter)
    add_export_onnx_parser(verbs, HelpFormatter)
    add_corpus_parser(verbs, HelpFormatter)
    add_prepare_parser(verbs, HelpFormatter)
    add_score_parser(verbs, HelpFormatter)
    add_reflow_parser(verbs, HelpFormatter)
    add_bench_parser(verbs, HelpFormatter)
    add_pack_parser(verbs, HelpFormatter)
    add_convert_parser(verbs, HelpFormatter)
    add_vocode_parser(verbs, HelpFormatter)
    add_eval_parser(verbs, HelpFormatter)
    add_serve_parser(verbs, HelpFormatter)
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
            check_device_option(args)  # every verb's --device, before any work
            code = args.run(args)  # None: success; a verb may return 1 for partial failure
    except FlowvoxError as err:
        print(f"flowvox: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except Exception as err:
        if (reason := disk_full_reason(err)) is None:
            raise
        print(
            f"flowvox: error: {reason} ({_one_line(str(err))}); free some space or write "
            "elsewhere (finished files are kept; run again to continue)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            "flowvox: interrupted (finished files are kept; run again to continue)", file=sys.stderr
        )
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
