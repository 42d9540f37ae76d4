"""`flowvox serve`: its flags, and the one library call (``flowvox.serve.server.serve``)."""

from __future__ import annotations

import argparse
import os

from flowvox.cli.options import add_device_option, add_threads_option, set_threads
from flowvox.errors import FlowvoxError

EXAMPLES = """examples:
  flowvox serve                                  # the bundled voice on 127.0.0.1:8000
  flowvox serve --port 8880 --model runs/f5/model --nfe 16
  FLOWVOX_API_KEY=secret flowvox serve --host 0.0.0.0 --max-queue 128

  curl -s localhost:8000/v1/audio/speech -H 'Content-Type: application/json' \\
    -d '{"model": "flowvox", "input": "Hello there.", "voice": "flite-slt"}' -o hello.wav

Open http://127.0.0.1:8000/ for the web page. SIGTERM or Ctrl-C: requests in flight finish,
new ones are refused. One log line per request goes to stderr.
"""


def add_serve_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    parser = verbs.add_parser(
        "serve",
        help="OpenAI-compatible speech server (POST /v1/audio/speech) with a web page",
        description="Serve a model over HTTP: OpenAI's speech API (whole files, chunked "
        "audio streams, server-sent events), voice upload, and a web page. Needs the "
        "[serve] extra (pip install 'flowvox[serve]').",
        epilog=EXAMPLES,
        formatter_class=formatter_class,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any free)")
    parser.add_argument("--model", metavar="DIR", help="model folder (default: the bundled voice)")
    parser.add_argument("--vocoder", metavar="DIR", help="vocoder folder (default: the model's)")
    parser.add_argument(
        "--sound-model",
        metavar="DIR",
        help="sound model for POST /v1/audio/sound (default: the bundled one if this install "
        "has it; none: no sounds)",
    )
    add_device_option(parser)
    add_threads_option(parser)
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="require 'Authorization: Bearer KEY' on /v1/ (default: $FLOWVOX_API_KEY, else none)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where uploaded voices are kept (default: $FLOWVOX_SERVE_DATA, else "
        "~/.local/share/flowvox/serve)",
    )
    parser.add_argument(
        "--no-batching",
        action="store_true",
        help="run requests one at a time (default: dynamic batching)",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=10.0,
        metavar="MS",
        help="how long to gather requests into a batch (default: 10)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=8,
        metavar="N",
        help="most requests in one batch (default: 8)",
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=64,
        metavar="N",
        help="requests waiting or running before 429 (default: 64)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SEC",
        help="longest wait for audio, or for a streamed piece (default: 120)",
    )
    parser.add_argument(
        "--max-input-chars",
        type=int,
        default=4096,
        metavar="N",
        help="longest input text (default: 4096)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=10.0,
        metavar="MB",
        help="largest voice upload (default: 10)",
    )
    parser.add_argument(
        "--max-voice-seconds",
        type=float,
        default=30.0,
        metavar="SEC",
        help="longest voice upload (default: 30)",
    )
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    try:
        from flowvox.serve.config import API_KEY_ENV, ServeConfig
        from flowvox.serve.server import serve
    except ImportError as err:
        raise FlowvoxError(
            f"flowvox serve needs the [serve] extra ({err.name} is missing): "
            "pip install 'flowvox[serve]'"
        ) from None
    set_threads(args)
    options: dict = {}
    if args.data_dir:
        options["data_dir"] = args.data_dir
    config = ServeConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get(API_KEY_ENV),
        batching=not args.no_batching,
        batch_wait_ms=args.batch_wait_ms,
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        timeout=args.timeout,
        max_input_chars=args.max_input_chars,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_voice_seconds=args.max_voice_seconds,
        **options,
    )
    serve(
        config,
        model=args.model,
        vocoder=args.vocoder,
        device=args.device,
        sound_model=args.sound_model,
    )
